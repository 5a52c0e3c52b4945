import ArgumentParser
import Foundation
import ProgramVersioning
import ProgramVersioningOps

/// `migrate up|down|status`: goose-format migrations.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply, roll back or list the schema migrations (goose format, goose_db_version table).",
        subcommands: [Up.self, Down.self, Status.self]
    )

    struct Options: ParsableArguments {
        @OptionGroup var connection: ConnectionOptions

        @Option(help: "A migrations folder (default: $PROGRAM_VERSIONING_MIGRATIONS, else the migrations this program ships).")
        var migrations: String?

        /// The folder asked for, if any; nil means the shipped migrations.
        var migrationsPath: String? {
            migrations ?? ProcessInfo.processInfo.environment["PROGRAM_VERSIONING_MIGRATIONS"]
        }

        /// Runs `body` with a migrator; errors become one line and exit 2, or exit 1 for a
        /// rollback refused because it would destroy rows (`refusalsExitOne`).
        func run<T: Sendable>(refusalsExitOne: Bool = false, _ body: @Sendable (Migrator) async throws -> T) async throws -> T {
            do {
                return try await reportingErrors(connection: connection, passing: MigrationError.self) {
                    let files = try migrationsPath.map(Migration.load(from:)) ?? Migration.shipped()
                    return try await withPool(connection) { pool in
                        try await body(Migrator(migrations: files, pool: pool))
                    }
                }
            } catch let error as MigrationError {
                FileHandle.standardError.write(Data("program-versioning: \(error.message)\n".utf8))
                throw ExitCode(refusalsExitOne && error.code == .dataLoss ? 1 : 2)
            }
        }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply pending migrations.")
        @OptionGroup var options: Options
        @Option(help: "Stop after this version.") var to: Int64?

        func run() async throws {
            let applied = try await options.run { try await $0.up(to: to) }
            if applied.isEmpty { print("nothing to apply: the database is up to date") }
            for migration in applied { print("applied \(migration.fileName)") }
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Roll back the newest migration, or every one newer than --to.")
        @OptionGroup var options: Options
        @Option(parsing: .unconditional, help: "Roll back to this version (0 = everything).") var to: Int64?
        @Flag(help: "Roll back even though a Down drops rows (versions, audit, run history, reports, links); needs --backup.")
        var allowDataLoss = false
        @Option(help: "With --allow-data-loss: copy the tables a Down takes rows from into a folder here first (COPY files + manifest.json).")
        var backup: String?

        func validate() throws {
            if let to, to < 0 { throw ValidationError("--to must be 0 or more") }
            if allowDataLoss, backup == nil { throw ValidationError("--allow-data-loss needs --backup DIR: the rows go to files first") }
            if backup != nil, !allowDataLoss { throw ValidationError("--backup is for --allow-data-loss") }
        }

        func run() async throws {
            let dataLoss: Migrator.DataLoss = backup.map { .allowAfterBackup(backupDirectory: $0) } ?? .refuse
            let rolledBack: [Migration]
            do {
                rolledBack = try await options.run(refusalsExitOne: true) { try await $0.down(to: to, dataLoss: dataLoss) }
            }
            if rolledBack.isEmpty { print("nothing to roll back") }
            for migration in rolledBack { print("rolled back \(migration.fileName)") }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List migrations and whether each is applied.")
        @OptionGroup var options: Options

        func run() async throws {
            let statuses = try await options.run { try await $0.status() }
            let formatter = ISO8601DateFormatter()
            print("    Applied At                  Migration")
            print("    =======================================")
            for status in statuses {
                let applied = status.appliedAt.map { formatter.string(from: $0) } ?? "Pending"
                var line = "    \(applied.padding(toLength: 28, withPad: " ", startingAt: 0))\(status.fileName ?? "version \(status.version) (file missing)")"
                if status.edited { line += "  (EDITED after it was applied)" }
                print(line)
            }
        }
    }
}
