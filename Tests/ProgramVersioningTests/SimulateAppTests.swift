import Foundation
import PostgresDriver
import ProgramSeeding
import ProgramVersioning
import TestSupport
import Testing

@Suite("simulate-app drives the library like the app")
struct SimulateAppTests {
    @Test func everySampledProgramIsSavedOrRefusedWithItsRule() async throws {
        try await TestDatabase.withFresh { db in
            _ = try await LegacySeeder(pool: db.pool).seed(.init(programs: 60, messyPercent: 50, seed: 9, sessionsPerProgram: 1))
            let flip = try await CommandLineTool.run(["flags", "set", "writes", "on", "--database-url", db.url])
            #expect(flip.status == 0)
            let outcome = try await CommandLineTool.run(["simulate-app", "--edits", "60", "--database-url", db.url])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let lines = outcome.stdout.split(separator: "\n").map(String.init)
            let saved = try #require(lines.first { $0.hasPrefix("saved ") }.flatMap { Int($0.split(separator: " ")[1]) })
            let refused = lines.filter { $0.hasPrefix("  not saved") }.compactMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }
            #expect(saved + refused.reduce(0, +) == 60, "every program is accounted for: \(outcome.stdout)")
            #expect(refused.reduce(0, +) > 0 && lines.contains { $0.contains("WORKOUT_INDEX_OUT_OF_RANGE") })
            let versions = try await db.pool.query("SELECT count(*) FROM program_versions").single().decode(Int.self, at: 0)
            #expect(versions == saved)
        }
    }
}
