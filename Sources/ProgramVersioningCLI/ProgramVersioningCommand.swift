import ArgumentParser
import Foundation
import Logging
import ProgramVersioningOps

/// `program-versioning`: the ops CLI.
@main
struct ProgramVersioningCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "program-versioning",
        abstract: "Move program JSON into immutable, versioned PostgreSQL tables without downtime.",
        discussion: """
            Connection: --database-url URL, else DATABASE_URL, else libpq's PG* variables and defaults.
            Exit codes: 0 success, 1 differences found or flip refused, 2 runtime error, 64 usage error.
            """,
        subcommands: [
            StatusCommand.self, MigrateCommand.self, FlagsCommand.self, BackfillCommand.self, CheckCommand.self, LegacyCommand.self, RolesCommand.self,
            SeedCommand.self,
            SimulateCommand.self,
        ]
    )

    /// Logs go to stderr at `warning` unless PROGRAM_VERSIONING_LOG_LEVEL says otherwise, so
    /// stdout carries only results (reports, JSON) and stderr stays readable.
    static func main() async {
        let level = ProcessInfo.processInfo.environment["PROGRAM_VERSIONING_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            var command = try parseAsRoot(GlobalOptions.movedAfterSubcommand(Array(CommandLine.arguments.dropFirst())))
            // A command group with no subcommand named: the help, then a usage error.
            let group = type(of: command)
            if !group.configuration.subcommands.isEmpty, group.configuration.defaultSubcommand == nil {
                FileHandle.standardError.write(Data((helpMessage(for: group) + "\n").utf8))
                FileHandle.standardError.write(Data("program-versioning: name a subcommand (see above)\n".utf8))
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
