import Foundation
import TestSupport
import Testing

/// The README's first command, as a new user meets it: a short summary per step that fits
/// a terminal, ending with the status screen.
@Suite("scripts/demo")
struct DemoTests {
    @Test func theDemoRunsTheWholeRolloutInUnderSixtyLinesAndEndsWithStatus() async throws {
        let outcome = try await ExternalTool.run(
            "bash", ["scripts/demo"], in: TestDatabase.repositoryRoot,
            environment: ["PROGRAMS": "600", "PV_CLI_BINARY": CommandLineTool.binary.path, "DATABASE_URL": nil])
        #expect(outcome.status == 0, "\(outcome.stdout)\(outcome.stderr)")
        // Both streams reach the terminal.
        let terminalLines = outcome.stdout.split(separator: "\n").count + outcome.stderr.split(separator: "\n").count
        #expect(terminalLines < 60, "\(terminalLines) lines:\n\(outcome.stdout)\nstderr:\n\(outcome.stderr)")
        let lines = outcome.stdout.split(separator: "\n")
        let status = lines.drop { !$0.hasPrefix("9. Where the rollout stands") }
        #expect(status.dropFirst().first?.hasPrefix("   phase      1") == true, "\(outcome.stdout)")
        #expect(status.last?.hasPrefix("   next       ") == true, "\(outcome.stdout)\nstderr:\n\(outcome.stderr)")
        // Counts say what they count, and the mess the seeder planted has the reports' names.
        #expect(outcome.stdout.contains("WORKOUT_INDEX_OUT_OF_RANGE") && !outcome.stdout.contains("SCHEDULE_INDEX_PAST_END"))
        #expect(outcome.stdout.contains(" DIFFERENCES in ") && outcome.stdout.contains(" of 600 programs"))
        #expect(!outcome.stdout.contains("not built yet"))
    }
}
