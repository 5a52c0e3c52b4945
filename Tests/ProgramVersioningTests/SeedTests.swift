import Foundation
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import TestSupport
import Testing

@Suite("Seeded legacy data is realistic, messy on request and reproducible")
struct SeedTests {
    /// A digest of every legacy table's rows, in key order.
    static func legacyDigest(_ pool: PGPool) async throws -> String {
        try await pool.query("""
            SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
              SELECT 'p' || id || user_id || program_json::text || created_at AS t FROM programs
              UNION ALL SELECT 's' || id || program_id || workout_id || status || started_at || coalesce(completed_at::text, '') FROM workout_sessions
              UNION ALL SELECT 'l' || id || session_id || exercise_id || set_index || reps || coalesce(weight_kg::text, '') FROM logged_sets
              UNION ALL SELECT 'u' || user_id || program_id || coalesce(current_day_index::text, '') FROM user_program_states) rows
            """).single().decode(String.self, at: 0)
    }

    @Test func theSameSeedGivesTheSameRowsIdsIncluded() async throws {
        let options = LegacySeeder.Options(programs: 300, messyPercent: 30, seed: 7, sessionsPerProgram: 3)
        let first = try await TestDatabase.withFresh { db in
            _ = try await LegacySeeder(pool: db.pool).seed(options, chunkSize: 70)
            return try await Self.legacyDigest(db.pool)
        }
        let second = try await TestDatabase.withFresh { db in
            _ = try await LegacySeeder(pool: db.pool).seed(options)
            return try await Self.legacyDigest(db.pool)
        }
        #expect(first == second)
        let other = try await TestDatabase.withFresh { db in
            _ = try await LegacySeeder(pool: db.pool).seed(.init(programs: 300, messyPercent: 30, seed: 8, sessionsPerProgram: 3))
            return try await Self.legacyDigest(db.pool)
        }
        #expect(first != other)
    }

    @Test func messyDataCarriesEveryKindOfMess() async throws {
        try await TestDatabase.withFresh { db in
            let summary = try await LegacySeeder(pool: db.pool).seed(.init(programs: 600, messyPercent: 60, seed: 3))
            #expect(summary.programs == 600)
            for kind in LegacyMess.allCases { #expect((summary.messByKind[kind] ?? 0) > 10, "\(kind)") }
            func count(_ query: PGQuery) async throws -> Int {
                try await db.pool.query(query).single().decode(Int.self, at: 0)
            }
            // Each kind is really in the stored JSON / rows, found by SQL that knows nothing of the generator.
            let stringNumbers = try await count("""
                SELECT count(DISTINCT p.id) FROM programs p, jsonb_array_elements(p.program_json->'workouts') w,
                  jsonb_array_elements(w->'exercises') e WHERE jsonb_typeof(e->'sets') = 'string'
                """)
            #expect(stringNumbers == summary.messByKind[.numbersAsStrings])
            let missingIDs = try await count("""
                SELECT count(DISTINCT p.id) FROM programs p, jsonb_array_elements(p.program_json->'workouts') w WHERE NOT w ? 'id'
                """)
            #expect(missingIDs == summary.messByKind[.missingIds])
            let pastEnd = try await count("""
                SELECT count(DISTINCT p.id) FROM programs p, jsonb_array_elements(p.program_json->'schedule') s
                 WHERE (s->>'workoutIndex')::int >= jsonb_array_length(p.program_json->'workouts')
                """)
            #expect(pastEnd == summary.messByKind[.scheduleIndexPastEnd])
            let unknownKeys = try await count("SELECT count(*) FROM programs WHERE program_json ? 'appVersion'")
            #expect(unknownKeys == summary.messByKind[.unknownKeys])
            let orphans = try await count("""
                SELECT count(DISTINCT s.program_id) FROM workout_sessions s JOIN programs p ON p.id = s.program_id
                 WHERE s.workout_id LIKE 'w-deleted-%'
                """)
            #expect(orphans == summary.messByKind[.orphanSessionWorkout])
            let sessions = try await count("SELECT count(*) FROM workout_sessions")
            let sets = try await count("SELECT count(*) FROM logged_sets")
            #expect(sessions == summary.sessions && sets == summary.sets && sets > sessions)
        }
    }

    @Test func cleanDataHasProgramsOfOneToSixWorkoutsWithThreeToEightExercises() async throws {
        try await TestDatabase.withFresh { db in
            _ = try await LegacySeeder(pool: db.pool).seed(.init(programs: 200, seed: 11))
            let (minW, maxW, minE, maxE) = try await db.pool.query("""
                SELECT min(jsonb_array_length(program_json->'workouts')), max(jsonb_array_length(program_json->'workouts')),
                       min(jsonb_array_length(w->'exercises')), max(jsonb_array_length(w->'exercises'))
                  FROM programs, jsonb_array_elements(program_json->'workouts') w
                """).single().decode((Int, Int, Int, Int).self)
            #expect(minW >= 1 && maxW <= 6 && minE >= 3 && maxE <= 8)
            let enrollments = try await db.pool.query("SELECT count(*) FROM user_program_states").single().decode(Int.self, at: 0)
            #expect(enrollments == 200)
        }
    }
}
