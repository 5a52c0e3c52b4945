import Foundation
import PostgresDriver
import Testing
import TestSupport

/// Schema v2 (issue 20): each guarantee the versioned tables give, tried with hand-written
/// SQL that would break it, and the catalog read for what distribution by program_id needs.
@Suite struct SchemaGuaranteeTests {
    static let versionedTables = ["program_versions", "program_version_workouts", "program_version_exercises", "program_version_schedule"]
    static let linkedTables = ["workout_sessions", "logged_sets"]

    /// A program with one committed version: workouts "a" (positions 0) and "b" (1), one
    /// exercise "x" in each, and one schedule entry naming "a".
    struct Seeded {
        var program: UUID, version: UUID, workoutA: UUID, workoutB: UUID, exercise: UUID
    }

    static func seed(_ db: TestDatabase.Fresh, program: UUID = UUID()) async throws -> Seeded {
        let s = Seeded(program: program, version: UUID(), workoutA: UUID(), workoutB: UUID(), exercise: UUID())
        try await db.pool.withConnection { c in
            try await c.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(s.program), \(UUID()), '{}')")
            try await c.query("BEGIN")
            try await c.query("""
                INSERT INTO program_versions (id, program_id, version, name, source_checksum, content_checksum)
                VALUES (\(s.version), \(s.program), 1, 'v1', 'a', 'a')
                """)
            try await c.query("""
                INSERT INTO program_version_workouts (id, program_id, program_version_id, workout_id, name, position)
                VALUES (\(s.workoutA), \(s.program), \(s.version), 'a', 'A', 0), (\(s.workoutB), \(s.program), \(s.version), 'b', 'B', 1)
                """)
            try await c.query("""
                INSERT INTO program_version_exercises
                  (id, program_id, program_version_id, workout_version_id, exercise_id, name, sets, reps, rest_seconds, position)
                VALUES (\(s.exercise), \(s.program), \(s.version), \(s.workoutA), 'x', 'X', 3, 5, 60, 0),
                       (\(UUID()), \(s.program), \(s.version), \(s.workoutB), 'x', 'X', 3, 5, 60, 0)
                """)
            try await c.query("""
                INSERT INTO program_version_schedule (program_id, program_version_id, position, day_index, workout_id)
                VALUES (\(s.program), \(s.version), 0, 0, 'a')
                """)
            try await c.query("COMMIT")
        }
        return s
    }

    /// The statement is refused with `sqlState`, and nothing of it stays.
    static func expectRefused(_ db: TestDatabase.Fresh, _ sqlState: String, _ mentioning: String, _ query: PGQuery,
                              sourceLocation: SourceLocation = #_sourceLocation) async throws {
        do {
            try await db.pool.query(query)
            Issue.record("not refused: \(query.sql)", sourceLocation: sourceLocation)
        } catch let error as PGError {
            #expect(error.sqlState == sqlState, "\(error)", sourceLocation: sourceLocation)
            #expect(error.message.contains(mentioning), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func aChildRowCannotJoinAVersionOfAnotherProgramOrAVersionThatDoesNotExist() async throws {
        try await TestDatabase.withFresh { db in
            let s = try await Self.seed(db)
            let other = try await Self.seed(db)
            try await Self.expectRefused(db, "23503", "does not have", """
                INSERT INTO program_version_workouts (program_id, program_version_id, workout_id, name, position)
                VALUES (\(other.program), \(s.version), 'c', 'C', 2)
                """)
            try await Self.expectRefused(db, "23503", "does not have", """
                INSERT INTO program_version_workouts (program_id, program_version_id, workout_id, name, position)
                VALUES (\(s.program), \(UUID()), 'c', 'C', 0)
                """)
            // An exercise naming a workout row of another program's version, or of its own
            // program under another version.
            try await Self.expectRefused(db, "23503", "does not have", """
                INSERT INTO program_version_exercises
                  (program_id, program_version_id, workout_version_id, exercise_id, name, sets, reps, rest_seconds, position)
                VALUES (\(s.program), \(s.version), \(other.workoutA), 'y', 'Y', 3, 5, 60, 1)
                """)
            try await Self.expectRefused(db, "23503", "does not have", """
                INSERT INTO program_version_exercises
                  (program_id, program_version_id, workout_version_id, exercise_id, name, sets, reps, rest_seconds, position)
                VALUES (\(other.program), \(other.version), \(s.workoutA), 'y', 'Y', 3, 5, 60, 1)
                """)
            try await Self.expectRefused(db, "23503", "does not have", """
                INSERT INTO program_version_schedule (program_id, program_version_id, position, day_index, workout_id)
                VALUES (\(s.program), \(s.version), 1, 2, 'no-such-workout')
                """)
            let rows = try await db.pool.query("SELECT count(*) FROM program_version_workouts").single().decode(Int.self, at: 0)
            #expect(rows == 4)
        }
    }

    @Test func idsPositionsAndScheduleEntriesAreUniquePerVersionEvenWhenAddedLater() async throws {
        try await TestDatabase.withFresh { db in
            let s = try await Self.seed(db)
            try await Self.expectRefused(db, "23505", "workout_key", """
                INSERT INTO program_version_workouts (program_id, program_version_id, workout_id, name, position)
                VALUES (\(s.program), \(s.version), 'a', 'again', 2)
                """)
            try await Self.expectRefused(db, "23505", "two workouts at position 1", """
                INSERT INTO program_version_workouts (program_id, program_version_id, workout_id, name, position)
                VALUES (\(s.program), \(s.version), 'c', 'C', 1)
                """)
            try await Self.expectRefused(db, "23505", "exercise_key", """
                INSERT INTO program_version_exercises
                  (program_id, program_version_id, workout_version_id, exercise_id, name, sets, reps, rest_seconds, position)
                VALUES (\(s.program), \(s.version), \(s.workoutA), 'x', 'again', 3, 5, 60, 1)
                """)
            try await Self.expectRefused(db, "23505", "two exercises at position 0", """
                INSERT INTO program_version_exercises
                  (program_id, program_version_id, workout_version_id, exercise_id, name, sets, reps, rest_seconds, position)
                VALUES (\(s.program), \(s.version), \(s.workoutA), 'y', 'Y', 3, 5, 60, 0)
                """)
            try await Self.expectRefused(db, "23505", "schedules workout a twice on day 0", """
                INSERT INTO program_version_schedule (program_id, program_version_id, position, day_index, workout_id)
                VALUES (\(s.program), \(s.version), 1, 0, 'a')
                """)
            try await Self.expectRefused(db, "23505", "program_version_schedule_pkey", """
                INSERT INTO program_version_schedule (program_id, program_version_id, position, day_index, workout_id)
                VALUES (\(s.program), \(s.version), 0, 3, 'b')
                """)
            // Within one statement too.
            try await Self.expectRefused(db, "23505", "two workouts at position 0", """
                INSERT INTO program_version_workouts (program_id, program_version_id, workout_id, name, position)
                VALUES (\(s.program), \(s.version), 'c', 'C', 0), (\(s.program), \(s.version), 'd', 'D', 0)
                """)
        }
    }

    @Test func versionsAreNumberedWithoutGapsOrRepeats() async throws {
        try await TestDatabase.withFresh { db in
            let s = try await Self.seed(db)
            func insert(_ versions: [Int]) -> PGQuery {
                "INSERT INTO program_versions (program_id, version, name, source_checksum, content_checksum) SELECT \(s.program), v, 'n', 'a', 'a' FROM unnest(\(versions)::int8[]) AS v"
            }
            try await Self.expectRefused(db, "23505", "does not follow version 2", insert([3]))
            try await Self.expectRefused(db, "23505", "program_versions_program_version_key", insert([1]))
            try await Self.expectRefused(db, "23505", "does not follow version 3", insert([2, 4]))
            try await Self.expectRefused(db, "23514", "version_check", insert([0]))
            // Two at once in order are fine, and so is the next one after them.
            try await db.pool.query(insert([2, 3]))
            try await db.pool.query(insert([4]))
            let versions = try await db.pool.query("SELECT version FROM program_versions WHERE program_id = \(s.program) ORDER BY version")
                .map { try $0.decode(Int.self, at: 0) }
            #expect(versions == [1, 2, 3, 4])
        }
    }

    @Test func committedVersionRowsCannotBeChangedDeletedOrTruncated() async throws {
        try await TestDatabase.withFresh { db in
            let s = try await Self.seed(db)
            for table in Self.versionedTables {
                try await Self.expectRefused(db, "23001", "immutable", PGQuery(unsafeSQL: "UPDATE \(table) SET program_id = program_id"))
                try await Self.expectRefused(db, "23001", "immutable", PGQuery(unsafeSQL: "DELETE FROM \(table)"))
                try await Self.expectRefused(db, "23001", "immutable", PGQuery(unsafeSQL: "TRUNCATE \(table) CASCADE"))
            }
            let name = try await db.pool.query("SELECT name FROM program_versions WHERE id = \(s.version)").single().decode(String.self, at: 0)
            #expect(name == "v1")
        }
    }

    @Test func sessionAndSetLinksStayWithinTheirProgram() async throws {
        try await TestDatabase.withFresh { db in
            let s = try await Self.seed(db)
            let other = try await Self.seed(db)
            let user = UUID(), session = UUID()
            try await db.pool.query("""
                INSERT INTO workout_sessions (id, user_id, program_id, workout_id) VALUES (\(session), \(user), \(s.program), 'a')
                """)
            try await Self.expectRefused(db, "23503", "workout_sessions_program_version_fkey", """
                UPDATE workout_sessions SET program_version_id = \(other.version) WHERE id = \(session)
                """)
            try await Self.expectRefused(db, "23503", "workout_sessions_workout_version_fkey", """
                UPDATE workout_sessions SET program_version_id = \(s.version), workout_version_id = \(other.workoutA) WHERE id = \(session)
                """)
            try await Self.expectRefused(db, "23514", "logged_sets_linked_program_check", """
                INSERT INTO logged_sets (id, session_id, user_id, exercise_id, set_index, reps, exercise_version_id)
                VALUES (\(UUID()), \(session), \(user), 'x', 0, 5, \(s.exercise))
                """)
            try await Self.expectRefused(db, "23503", "logged_sets_exercise_version_fkey", """
                INSERT INTO logged_sets (id, session_id, user_id, exercise_id, set_index, reps, exercise_version_id, program_id)
                VALUES (\(UUID()), \(session), \(user), 'x', 0, 5, \(s.exercise), \(other.program))
                """)
            // The links as the library makes them hold.
            try await db.pool.query("""
                UPDATE workout_sessions SET program_version_id = \(s.version), workout_version_id = \(s.workoutA) WHERE id = \(session)
                """)
            try await db.pool.query("""
                INSERT INTO logged_sets (id, session_id, user_id, exercise_id, set_index, reps, exercise_version_id, program_id)
                VALUES (\(UUID()), \(session), \(user), 'x', 0, 5, \(s.exercise), \(s.program))
                """)
        }
    }

    @Test func idsMadeByTheDatabaseAreTimeOrdered() async throws {
        try await TestDatabase.withFresh { db in
            let ids = try await db.pool.query("SELECT program_versioning_uuid_v7()::text FROM generate_series(1, 200)")
                .map { try $0.decode(String.self, at: 0) }
            #expect(ids.allSatisfy { $0.count == 36 && Array($0)[14] == "7" && "89ab".contains(Array($0)[19]) }, "\(ids.prefix(3))")
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            let millis = ids.map { UInt64($0.replacingOccurrences(of: "-", with: "").prefix(12), radix: 16) ?? 0 }
            #expect(millis.allSatisfy { $0 + 60_000 > now && $0 < now + 60_000 }, "\(millis.prefix(3)) vs \(now)")
            #expect(millis == millis.sorted())
        }
    }

    // MARK: Distribution by program_id

    /// Every primary key, unique constraint, unique index and foreign key on the versioned
    /// tables includes program_id, and every foreign key from a linked table into them names
    /// program_id on both sides: what Citus needs to distribute and co-locate them by it.
    @Test func everyKeyOnTheVersionedTablesAndTheLinksIncludesProgramID() async throws {
        try await TestDatabase.withFresh { db in
            let rows = try await db.pool.query("""
                SELECT c.conrelid::regclass::text, c.conname, c.contype::text,
                       (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                         WHERE a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)),
                       coalesce((SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                                  WHERE a.attrelid = c.confrelid AND a.attnum = ANY(c.confkey)), '{}'),
                       coalesce(c.confrelid::regclass::text, '')
                  FROM pg_constraint c
                 WHERE c.contype IN ('p', 'u', 'f')
                   AND (c.conrelid::regclass::text = ANY(\(Self.versionedTables))
                        OR (c.conrelid::regclass::text = ANY(\(Self.linkedTables)) AND c.confrelid::regclass::text = ANY(\(Self.versionedTables))))
                """).map { try $0.decode((String, String, String, [String], [String], String).self) }
            #expect(rows.count >= 11, "\(rows.map(\.1))")
            for (table, name, kind, columns, referenced, target) in rows {
                #expect(columns.contains("program_id"), "\(table).\(name) (\(kind)) leaves out program_id: \(columns)")
                if kind == "f" && target != "programs" {
                    #expect(referenced.contains("program_id"), "\(table).\(name) references \(target)\(referenced) without program_id")
                }
            }
            // Unique indexes not backing a constraint count too.
            let indexes = try await db.pool.query("""
                SELECT i.indexrelid::regclass::text,
                       (SELECT array_agg(a.attname::text) FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))
                  FROM pg_index i WHERE i.indisunique AND i.indrelid::regclass::text = ANY(\(Self.versionedTables))
                """).map { try $0.decode((String, [String]).self) }
            for (index, columns) in indexes {
                #expect(columns.contains("program_id"), "unique index \(index) leaves out program_id: \(columns)")
            }
        }
    }

    /// What a trigger on a versioned or linked table may do and still run on each shard of a
    /// table distributed by program_id (docs/scaling.md): refuse a change without reading
    /// anything, or check the rows a statement inserted against co-located tables only, each
    /// read keyed by program_id. Anything else fails here until it is made to fit and
    /// scaling.md says how it distributes.
    @Test func everyTriggerOnThemWouldRunOnAShardOfItsOwn() async throws {
        try await TestDatabase.withFresh { db in
            let triggers = try await db.pool.query("""
                SELECT t.tgrelid::regclass::text, t.tgname, p.prosrc,
                       (t.tgtype & 1) <> 0 AS for_each_row, (t.tgtype & 2) <> 0 AS before, (t.tgtype & 4) <> 0 AS on_insert
                  FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                 WHERE NOT t.tgisinternal AND t.tgrelid::regclass::text = ANY(\(Self.versionedTables + Self.linkedTables))
                """).map { try $0.decode((String, String, String, Bool, Bool, Bool).self) }
            #expect(triggers.count >= 12)
            let colocated = Set(Self.versionedTables)
            for (table, name, source, forEachRow, before, onInsert) in triggers {
                let reads = Self.tablesRead(by: source)
                if reads.isEmpty {
                    #expect(before && !onInsert, "\(table).\(name) reads nothing, so it must be a guard that refuses a change")
                    continue
                }
                #expect(!forEachRow && !before && onInsert, "\(table).\(name) reads tables, so it must be an AFTER INSERT statement check")
                for (read, alias) in reads {
                    #expect(read == "inserted" || colocated.contains(read), "\(table).\(name) reads \(read), not co-located by program_id")
                    if read != "inserted" {
                        #expect(source.contains("\(alias).program_id = ") || source.contains("(\(alias).program_id, "),
                                "\(table).\(name) reads \(read) without keying it by program_id")
                    }
                }
            }
        }
    }

    /// `FROM table alias` / `JOIN table alias` pairs in a function's source.
    static func tablesRead(by source: String) -> [(String, String)] {
        let regex = try! NSRegularExpression(pattern: #"\b(?:FROM|JOIN)\s+([a-z_]+)\s+([a-z]+)\b"#, options: [.caseInsensitive])
        return regex.matches(in: source, range: NSRange(source.startIndex..., in: source)).compactMap { match in
            guard let table = Range(match.range(at: 1), in: source), let alias = Range(match.range(at: 2), in: source) else { return nil }
            let keyword = String(source[alias]).uppercased()
            guard !["WHERE", "GROUP", "LIMIT", "ON", "USING", "ORDER", "JOIN"].contains(keyword) else { return nil }
            return (String(source[table]), String(source[alias]))
        }
    }
}
