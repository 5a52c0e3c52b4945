import ArgumentParser
import Foundation
import PostgresDriver
import ProgramVersioning
import ProgramVersioningOps

/// `legacy backup|retire|restore`: the end of phase 5, after the rollback window.
struct LegacyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "legacy",
        abstract: "End (and undo) the legacy JSON compatibility layer after phase 5's rollback window.",
        discussion: """
            legacy backup copies the legacy tables to files and records them; legacy retire moves programs.program_json \
            aside (renamed to program_json_retired, nothing dropped) once the rules hold; legacy restore undoes it. \
            A refusal exits 1 with the rule and what to do first (docs/runbook.md).
            """,
        subcommands: [Backup.self, Retire.self, Restore.self]
    )

    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy programs, workout_sessions, logged_sets and user_program_states to DIR/legacy-<id>/ with a manifest.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The folder to write the backup into (on this machine: retire verifies it here).") var to: String

        func run() async throws {
            let record = try await reportingErrors(connection: connection) {
                try await withPool(connection) { try await LegacyBackup(pool: $0).make(to: to) }
            }
            print("legacy backup \(record.id.uuidString.lowercased()) in \(record.folder)")
            for file in record.files {
                print("  \(file.table): \(file.rows) rows, \(file.bytes) bytes, sha256 \(file.sha256)")
            }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move the legacy JSON aside, reversibly, once the rollback window is over.")
        @OptionGroup var connection: ConnectionOptions
        @Option(parsing: .unconditional, help: "Days PROGRAM_VERSIONING_LEGACY_READONLY must have been on.") var window = LegacyRetirement.defaultWindowDays
        @Option(help: "Why, for the record.") var reason: String?
        @Option(help: "Who, for the record (default: the OS user).") var actor: String?

        func validate() throws {
            guard window >= 0 else { throw ValidationError("--window must be 0 days or more") }
        }

        func run() async throws {
            let who = actor ?? ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
            let record = try await refusingWithExitOne(connection) { pool in
                try await LegacyRetirement(pool: pool).retire(windowDays: window, actor: who, reason: reason)
            }
            print("""
                legacy JSON retired (\(record.id.uuidString.lowercased())): programs.program_json is now programs.program_json_retired; \
                backup \(record.backupID.uuidString.lowercased()); undo with program-versioning legacy restore
                """)
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo legacy retire: the column back, JSON written for every program created or edited since.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Who, for the record (default: the OS user).") var actor: String?

        func run() async throws {
            let who = actor ?? ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
            let progress = ProgressLine(kind: .legacy, toTerminal: isatty(STDERR_FILENO) == 1)
            let restored = try await refusingWithExitOne(connection) { pool in
                try await LegacyRetirement(pool: pool).restore(actor: who) { progress.update($0) }
            }
            progress.finish()
            let counts = restored.writeBack.counts
            print("""
                legacy JSON restored (retirement \(restored.retirement.id.uuidString.lowercased())): programs.program_json is back, NOT NULL; \
                backfill legacy run \(restored.writeBack.runID.uuidString.lowercased()) wrote \(counts.written) programs \
                (seen \(counts.seen), unchanged \(counts.unchanged), reported \(counts.reported))
                """)
        }
    }
}

/// Runs `body` with a pool; a `LegacyRetirementRefused` is one line on stderr and exit 1,
/// anything else goes the usual way (exit 2).
private func refusingWithExitOne<T: Sendable>(
    _ connection: ConnectionOptions, _ body: @escaping (PGPool) async throws -> T
) async throws -> T {
    do {
        return try await reportingErrors(connection: connection, passing: LegacyRetirementRefused.self) {
            try await withPool(connection, maxConnections: 3, body)
        }
    } catch let refused as LegacyRetirementRefused {
        FileHandle.standardError.write(Data("program-versioning: \(refused)\n".utf8))
        throw ExitCode(1)
    }
}
