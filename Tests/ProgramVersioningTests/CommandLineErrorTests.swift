import Foundation
import PostgresDriver
import Testing
import TestSupport

/// Bad input gets one clear line on stderr and exit code 2 (64 for usage), never a crash,
/// a stack trace or a password.
@Suite("The CLI fails clearly")
struct CommandLineErrorTests {
    static func expectOneCleanLine(_ outcome: CommandLineTool.Outcome, status: Int32 = 2, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.status == status, "exit \(outcome.status): \(outcome.stderr)", sourceLocation: sourceLocation)
        let lines = outcome.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(outcome.stderr)", sourceLocation: sourceLocation)
        for word in mentions {
            #expect(outcome.stderr.localizedCaseInsensitiveContains(word), "stderr: \(outcome.stderr)", sourceLocation: sourceLocation)
        }
        for forbidden in ["Fatal error", "Backtrac", "crashed", "Thread 0"] {
            #expect(!outcome.stderr.contains(forbidden), sourceLocation: sourceLocation)
        }
    }

    @Test func anUnreachableDatabase() async throws {
        let outcome = try await CommandLineTool.run(["migrate", "up", "--database-url", "postgresql://postgres@127.0.0.1:1/postgres"])
        Self.expectOneCleanLine(outcome, mentions: ["cannot connect", "refused", "DATABASE_URL"])
    }

    @Test func aWrongPasswordIsNamedButNeverPrinted() async throws {
        let host = ConnectionString.parameters(of: TestDatabase.adminURL)?["host"] ?? "127.0.0.1"
        let port = ConnectionString.parameters(of: TestDatabase.adminURL)?["port"] ?? "54329"
        let outcome = try await CommandLineTool.run(["migrate", "status", "--database-url", "postgresql://pv_secret:Sup3rS3cret@\(host):\(port)/postgres"])
        Self.expectOneCleanLine(outcome, mentions: ["password authentication failed", "password"])
        #expect(!outcome.stderr.contains("Sup3rS3cret"))
        #expect(!outcome.stdout.contains("Sup3rS3cret"))
    }

    @Test func aMalformedURL() async throws {
        let outcome = try await CommandLineTool.run(["migrate", "up", "--database-url", "postgresql://u:Sup3rS3cret@[::1/db?sslmode"])
        Self.expectOneCleanLine(outcome, mentions: ["invalid database URL"])
        #expect(!outcome.stderr.contains("Sup3rS3cret"))
    }

    @Test func aMalformedURLFromTheEnvironment() async throws {
        let outcome = try await CommandLineTool.run(["migrate", "status"], environment: ["DATABASE_URL": "host=localhost port"])
        Self.expectOneCleanLine(outcome, mentions: ["invalid database URL"])
    }

    @Test func aMissingMigrationsFolder() async throws {
        let outcome = try await CommandLineTool.run(["migrate", "up", "--database-url", TestDatabase.adminURL, "--migrations", "/nonexistent/migrations"])
        Self.expectOneCleanLine(outcome, mentions: ["/nonexistent/migrations", "does not exist"])
    }

    @Test func aUsageErrorExits64() async throws {
        let outcome = try await CommandLineTool.run(["migrate", "sideways"])
        #expect(outcome.status == 64)
        let seed = try await CommandLineTool.run(["seed", "--programs", "10", "--messy", "150"])
        #expect(seed.status == 64)
        #expect(seed.stderr.contains("--messy"))
    }

    @Test func seedingTablesThatDoNotExistSaysToMigrateFirst() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let outcome = try await CommandLineTool.run(["seed", "--programs", "5", "--database-url", db.url])
            Self.expectOneCleanLine(outcome, mentions: ["migrate up"])
        }
    }

    @Test func aNegativeNumberIsOutOfRangeNotAMissingValue() async throws {
        for arguments in [["backfill", "programs", "--batch-size", "-1"], ["check", "--page-size", "-5"], ["flags", "set", "reads", "on", "--percent", "-3"]] {
            let outcome = try await CommandLineTool.run(arguments)
            #expect(outcome.status == 64, "\(arguments)")
            #expect(!outcome.stderr.contains("Missing value") && outcome.stderr.contains("between"), "\(arguments): \(outcome.stderr)")
        }
    }

    @Test func aReportThatCannotBeWrittenIsRefusedBeforeTheCheckRuns() async throws {
        try await TestDatabase.withFresh { db in
            let outcome = try await CommandLineTool.run(["check", "--output", "/no/such/folder/report.txt", "--database-url", db.url])
            Self.expectOneCleanLine(outcome, mentions: ["cannot write the report", "nothing was checked"])
            #expect(try await db.pool.query("SELECT count(*) FROM check_runs").single().decode(Int.self, at: 0) == 0)
        }
    }
}
