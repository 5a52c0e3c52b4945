import ArgumentParser
import Foundation
import ProgramVersioning

/// `migrate up|down|status`: goose-format migrations.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply, roll back or list the schema migrations (goose format, goose_db_version table).",
        subcommands: [Up.self, Down.self, Status.self]
    )

    struct Options: ParsableArguments {
        @OptionGroup var connection: ConnectionOptions

        @Option(help: "The migrations folder (default: $PROGRAM_VERSIONING_MIGRATIONS, else ./migrations).")
        var migrations: String?

        var migrationsPath: String {
            migrations ?? ProcessInfo.processInfo.environment["PROGRAM_VERSIONING_MIGRATIONS"] ?? "migrations"
        }

        func run<T: Sendable>(_ body: @Sendable (Migrator) async throws -> T) async throws -> T {
            try await reportingErrors(connection: connection) {
                let files = try Migration.load(from: migrationsPath)
                return try await withPool(connection) { pool in
                    try await body(Migrator(migrations: files, pool: pool))
                }
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
        @Option(help: "Roll back to this version (0 = everything).") var to: Int64?

        func validate() throws {
            if let to, to < 0 { throw ValidationError("--to must be 0 or more") }
        }

        func run() async throws {
            let rolledBack = try await options.run { try await $0.down(to: to) }
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
