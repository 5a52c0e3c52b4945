import Foundation
import PostgresDriver
import Testing
import TestSupport

@Suite("Transactions commit or roll back on every path")
struct TransactionTests {
    struct Planned: Error {}

    @Test func aFailingStatementRollsBackEverything() async throws {
        try await TestDatabase.withFresh { db in
            let id = UUID()
            await #expect(throws: PGError.self) {
                try await db.pool.transaction { connection in
                    try await connection.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(id), \(UUID()), '{}')")
                    try await connection.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(id), \(UUID()), '{}')")
                }
            }
            let count = try await db.pool.query("SELECT count(*) FROM programs").single().decode(Int.self, at: 0)
            #expect(count == 0)
        }
    }

    @Test func aThrownSwiftErrorRollsBackAndTheConnectionIsReusable() async throws {
        try await TestDatabase.withFresh(maxConnections: 1) { db in
            await #expect(throws: Planned.self) {
                try await db.pool.transaction { connection in
                    try await connection.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(UUID()), \(UUID()), '{}')")
                    throw Planned()
                }
            }
            let count = try await db.pool.query("SELECT count(*) FROM programs").single().decode(Int.self, at: 0)
            #expect(count == 0)
            // The pool's only connection is reused: a row it writes now is committed at once,
            // visible to another connection, so it is not stuck in the rolled-back transaction.
            try await db.pool.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(UUID()), \(UUID()), '{}')")
            let other = try await PGConnection.connect(to: db.url)
            let seen = try await other.query("SELECT count(*) FROM programs").single().decode(Int.self, at: 0)
            await other.close()
            #expect(seen == 1)
        }
    }

    @Test func aCommittedTransactionKeepsItsRows() async throws {
        try await TestDatabase.withFresh { db in
            let count = try await db.pool.transaction { connection in
                try await connection.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(UUID()), \(UUID()), '{}')")
                return try await connection.query("SELECT count(*) FROM programs").single().decode(Int.self, at: 0)
            }
            #expect(count == 1)
            #expect(try await db.pool.query("SELECT count(*) FROM programs").single().decode(Int.self, at: 0) == 1)
        }
    }

    @Test func aSavepointUndoesOnlyItsOwnWork() async throws {
        try await TestDatabase.withFresh { db in
            try await db.pool.transaction { connection in
                try await connection.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(UUID()), \(UUID()), '{}')")
                _ = try? await connection.savepoint { connection in
                    try await connection.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(UUID()), \(UUID()), '{}')")
                    throw Planned()
                }
            }
            #expect(try await db.pool.query("SELECT count(*) FROM programs").single().decode(Int.self, at: 0) == 1)
        }
    }

    @Test func serverErrorsCarrySQLStateAndTheQueryText() async throws {
        try await TestDatabase.withFresh { db in
            let id = UUID()
            try await db.pool.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(id), \(UUID()), '{}')")
            do {
                try await db.pool.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(id), \(UUID()), '{}')")
                Issue.record("expected a unique violation")
            } catch let error as PGError {
                #expect(error.code == .server)
                #expect(error.sqlState == "23505")
                #expect(error.query?.contains("INSERT INTO programs") == true)
                #expect(error.detail?.contains(id.uuidString.lowercased()) == true, "the DETAIL is kept for the caller")
                #expect(!error.description.contains(id.uuidString.lowercased()), "but not logged through description")
            }
        }
    }
}
