import ArgumentParser
import Foundation
import Logging
import PostgresDriver
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags

/// `simulate-app`: app traffic through the library, for demos and rehearsals: reads a
/// sample of programs and saves an edit of each, with the flags the store holds now.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-app",
        abstract: "Read and edit a sample of programs through the library, as the app would, and summarize what happened."
    )

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "How many programs to read and edit.") var edits = 100
    @Option(help: "Picks the sample (same seed, same programs).") var seed = 1

    func validate() throws {
        guard (0...1_000_000).contains(edits) else { throw ValidationError("--edits must be between 0 and 1000000") }
    }

    func run() async throws {
        let summary = try await reportingErrors(connection: connection) {
            try await withPool(connection, maxConnections: 4) { pool in
                let flags = try await FlagStore(pool: pool).snapshot()
                let repository = ProgramRepository(pool: pool, flags: FixedFlagSource(flags), logger: Logger(label: "program-versioning.simulate"))
                let sample = try await pool.query("""
                    SELECT id FROM programs ORDER BY md5(id::text || \(String(seed))) LIMIT \(edits)
                    """).map { try $0.decode(UUID.self, at: 0) }
                var summary = Summary(flags: flags)
                for id in sample {
                    do throws(RepositoryError) {
                        let stored = try await repository.program(id)
                        summary.reads[stored.source.rawValue, default: 0] += 1
                        var edited = stored.program
                        if !edited.workouts.isEmpty, !edited.workouts[0].exercises.isEmpty {
                            edited.workouts[0].exercises[0].reps = edited.workouts[0].exercises[0].reps % 20 + 1
                        }
                        let result = try await repository.save(edited, to: id, expectedRevision: stored.revision)
                        summary.saved += 1
                        if result.createdVersion { summary.versions += 1 }
                    } catch {
                        summary.refused[Self.reason(error), default: 0] += 1
                    }
                }
                return summary
            }
        }
        print("flags: \(summary.flags)")
        print("reads: " + summary.reads.sorted { $0.key < $1.key }.map { "\($0.value) from \($0.key)" }.joined(separator: ", "))
        print("saved \(summary.saved) edits, \(summary.versions) new versions")
        for (reason, count) in summary.refused.sorted(by: { $0.key < $1.key }) {
            print("  not saved, \(reason): \(count)")
        }
    }

    struct Summary: Sendable {
        var flags: FlagSnapshot
        var reads: [String: Int] = [:]
        var saved = 0
        var versions = 0
        var refused: [String: Int] = [:]
    }

    /// A short, countable reason (the library's messages carry ids and paths).
    static func reason(_ error: RepositoryError) -> String {
        switch error {
        case .invalidProgram(let validation):
            "invalid program (" + Set(validation.violations.map(\.rule.rawValue)).sorted().joined(separator: ", ") + ")"
        case .unreadableLegacy: "legacy JSON unreadable"
        case .conflict: "conflict"
        case .database(let error): "database error: \(error.message)"
        default: "\(error)"
        }
    }
}
