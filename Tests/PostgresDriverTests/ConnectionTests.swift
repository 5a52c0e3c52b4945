import Foundation
import PostgresDriver
import Synchronization
import Testing
import TestSupport

@Suite("Connections, LISTEN/NOTIFY and COPY")
struct ConnectionTests {
    @Test func notificationsArrivingDuringAQueryAreDelivered() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let listener = try await PGConnection.connect(to: db.url)
            try await listener.listen("c")
            let stream = listener.notifications()
            try await listener.query("SELECT pg_notify('c', 'self')")
            var iterator = stream.makeAsyncIterator()
            let first = await iterator.next()
            #expect(first?.payload == "self")
            await listener.close()
            #expect(await iterator.next() == nil, "the stream finishes when the connection closes")
        }
    }

    @Test func aTaskPinnedToTheConnectionThreadRunsStatementsInline() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let connection = try await PGConnection.connect(to: db.url)
            let sum = try await withTaskExecutorPreference(connection.executor) {
                var sum = 0
                for index in 1...100 {
                    sum += try await connection.query("SELECT \(index)::int8").single().decode(Int.self, at: 0)
                }
                let inTransaction = try await connection.transaction { connection in
                    try await connection.query("SELECT 1::int8").single().decode(Int.self, at: 0)
                }
                return sum + inTransaction - 1
            }
            #expect(sum == 5050)
            await connection.close()
        }
    }

    @Test func aSlowCallAfterManyFastOnesOutlastsTheYieldBudgetAndStillReturns() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let connection = try await PGConnection.connect(to: db.url)
            // Fast calls make the caller wait by yielding; the slow one must then fall back
            // to suspending, and both kinds must deliver their own result and errors.
            for index in 1...200 {
                #expect(try await connection.query("SELECT \(index)::int8").single().decode(Int.self, at: 0) == index)
            }
            let slow = try await connection.query("SELECT 7::int8 FROM pg_sleep(0.05)").single().decode(Int.self, at: 0)
            #expect(slow == 7)
            await #expect(throws: PGError.self) { try await connection.query("SELECT 1/0") }
            let afterError = try await connection.query("SELECT 8::int8").single().decode(Int.self, at: 0)
            #expect(afterError == 8)
            await connection.close()
        }
    }

    @Test func copyFromStdinStoresEveryValueVerbatim() async throws {
        try await TestDatabase.withFresh { db in
            let tricky = "tab\there\\nnot-a-newline\nreal newline \\N ✓"
            let copied = try await db.pool.withConnection { connection in
                try await connection.copyFrom("COPY logged_sets (id, session_id, user_id, exercise_id, set_index, reps, weight_kg) FROM STDIN") { writer in
                    for index in 0..<10_000 {
                        try await writer.write(row: [UUID().uuidString, UUID().uuidString, UUID().uuidString, index == 0 ? tricky : "e-\(index)", "\(index)", "5", index % 2 == 0 ? nil : "82.5"])
                    }
                }
            }
            #expect(copied == 10_000)
            let row = try await db.pool.query("SELECT exercise_id, weight_kg FROM logged_sets WHERE set_index = 0").single()
            #expect(try row.decode(String.self, at: 0) == tricky)
            #expect(try row.decode(Decimal?.self, at: 1) == nil)
            #expect(try await db.pool.query("SELECT count(*) FROM logged_sets WHERE weight_kg = 82.5").single().decode(Int.self, at: 0) == 5_000)
        }
    }

    @Test func preEncodedCopyRowsArriveAsWrittenAcrossChunks() async throws {
        try await TestDatabase.withFresh { db in
            let session = UUID().uuidString
            var text = ""
            for index in 0..<500 { text += "\(UUID().uuidString)\t\(session)\t\(session)\te-\\t\(index)\t\(index)\t7\n" }
            let copied = try await db.pool.withConnection { connection in
                try await connection.copyFrom("COPY logged_sets (id, session_id, user_id, exercise_id, set_index, reps) FROM STDIN", chunkSize: 1_000) { writer in
                    let bytes = Array(text.utf8)
                    try await writer.write(encodedRows: bytes[..<777])  // mid-row: rows only need to be whole in the end
                    try await writer.write(encodedRows: bytes[777...])
                }
            }
            #expect(copied == 500)
            let (count, sum, escaped) = try await db.pool.query("""
                SELECT count(*), sum(set_index), count(*) FILTER (WHERE exercise_id = E'e-\t' || set_index) FROM logged_sets
                """).single().decode((Int, Int, Int).self)
            #expect(count == 500 && sum == 499 * 500 / 2 && escaped == 500)
        }
    }

    @Test func copyToStdoutDeliversEveryRowAndAFailingConsumerLeavesTheConnectionUsable() async throws {
        struct Full: Error {}
        try await TestDatabase.withFresh(maxConnections: 1) { db in
            try await db.pool.query("CREATE TABLE t (n int, s text)")
            try await db.pool.query("INSERT INTO t SELECT n, 'row ' || n || E'\ttab' FROM generate_series(1, 20000) n")
            let collected = Mutex<[UInt8]>([])
            let rows = try await db.pool.withConnection { connection in
                try await connection.copyTo("COPY (SELECT * FROM t ORDER BY n) TO STDOUT") { chunk in collected.withLock { $0 += chunk } }
            }
            let text = collected.withLock { String(decoding: $0, as: UTF8.self) }
            #expect(rows == 20_000 && text.split(separator: "\n").count == 20_000)
            #expect(text.hasPrefix("1\trow 1\\ttab\n2\trow 2\\ttab\n") && text.hasSuffix("20000\trow 20000\\ttab\n"))
            try await db.pool.withConnection { connection in
                await #expect(throws: Full.self) {
                    try await connection.copyTo("COPY t TO STDOUT") { _ in throw Full() }
                }
                let count = try await connection.query("SELECT count(*) FROM t").single().decode(Int.self, at: 0)
                #expect(count == 20_000)
            }
        }
    }

    @Test func aCopyWhoseProducerFailsStoresNothing() async throws {
        struct Stop: Error {}
        try await TestDatabase.withFresh(maxConnections: 1) { db in
            await #expect(throws: Stop.self) {
                try await db.pool.withConnection { connection in
                    try await connection.copyFrom("COPY logged_sets (id, session_id, user_id, exercise_id, set_index, reps) FROM STDIN", chunkSize: 100) { writer in
                        for index in 0..<100 {
                            try await writer.write(row: [UUID().uuidString, UUID().uuidString, UUID().uuidString, "e", "\(index)", "1"])
                        }
                        throw Stop()
                    }
                }
            }
            let count = try await db.pool.query("SELECT count(*) FROM logged_sets").single().decode(Int.self, at: 0)
            #expect(count == 0)
        }
    }

    @Test func aWrongPasswordFailsWithoutPrintingThePassword() async throws {
        var parameters = ConnectionString.parameters(of: TestDatabase.adminURL) ?? [:]
        let host = parameters["host"] ?? "127.0.0.1", port = parameters["port"] ?? "54329"
        parameters.removeAll()
        let url = "postgresql://pv_secret:Wr0ngPassw0rd@\(host):\(port)/postgres"
        do {
            _ = try await PGConnection.connect(to: url)
            Issue.record("expected an authentication failure")
        } catch {
            #expect(error.code == .connectionFailed)
            #expect(error.message.contains("password authentication failed"))
            #expect(!error.description.contains("Wr0ngPassw0rd"))
        }
    }

    @Test(arguments: [
        ("postgresql://alice:hunter2@db.example:5432/app", "hunter2"),
        ("host=db user=alice password=hunter2 dbname=app", "hunter2"),
        ("host=db password='hunter 2' dbname=app", "hunter 2"),
        ("postgresql://alice:hunter2@[broken", "hunter2"),
    ])
    func redactionRemovesPasswords(connectionString: String, password: String) {
        let message = "failed to use \(connectionString)"
        let redacted = ConnectionString.redact(message, connectionString: connectionString)
        #expect(!redacted.contains(password), "\(redacted)")
    }

    @Test func aMalformedConnectionStringIsReportedByParseError() {
        #expect(ConnectionString.parseError(of: "host=x port") != nil)
        #expect(ConnectionString.parseError(of: "postgresql://u@h/db") == nil)
    }

    @Test func aPreparedStatementIsPreparedOncePerConnectionAndAgainWhenTheServerForgetsIt() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let connection = try await PGConnection.connect(to: db.url)
            try await connection.query("CREATE TABLE t (id int8 PRIMARY KEY, name text)")
            func named(_ id: Int) -> PGQuery {
                let query: PGQuery = "SELECT * FROM t WHERE id = \(id)"
                return query.prepared(as: "test_by_id")
            }
            try await connection.query("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
            #expect(try await connection.query(named(1)).single().decode(String.self, at: 1) == "a")
            #expect(try await connection.query(named(2)).single().decode(String.self, at: 1) == "b")
            let prepared = try await connection.query("SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_by_id'")
            #expect(try prepared.single().decode(Int.self, at: 0) == 1)
            // The server cannot reuse its plan once the table's columns changed: one clear
            // error, then the statement is prepared again.
            try await connection.query("ALTER TABLE t ADD COLUMN extra int")
            await #expect(throws: PGError.self) { try await connection.query(named(1)) }
            #expect(try await connection.query(named(2)).single().decode(String.self, at: 1) == "b")
            // Forgotten by the server (DISCARD ALL): prepared again after one error.
            try await connection.query("DEALLOCATE ALL")
            await #expect(throws: PGError.self) { try await connection.query(named(1)) }
            #expect(try await connection.query(named(1)).single().decode(String.self, at: 1) == "a")
            // One name, one statement.
            let other: PGQuery = "SELECT \(1)::int8"
            await #expect(throws: PGError.self) { try await connection.query(other.prepared(as: "test_by_id")) }
            await connection.close()
        }
    }
}
