import ArgumentParser
import Foundation
import ProgramVersioning
import ProgramVersioningOps

/// `backfill|check pause|resume|tune`: the control row every running process of that kind
/// reads between batches, from any shell or machine.
protocol ControlledKind {
    static var kind: BackgroundControl.Kind { get }
}

enum BackfillRuns: ControlledKind { static let kind = BackgroundControl.Kind.backfill }
enum CheckRuns: ControlledKind { static let kind = BackgroundControl.Kind.check }

struct PauseCommand<Kind: ControlledKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "pause",
            abstract: "Hold every running \(Kind.kind.rawValue) at its next batch (and any started later) until resumed.")
    }
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Why, shown to whoever looks at the run.") var reason: String?

    func run() async throws {
        let control = try await reportingErrors(connection: connection) {
            try await withPool(connection) { try await BackgroundControl.setPaused(true, kind: Kind.kind, reason: reason, pool: $0) }
        }
        print("\(Kind.kind.rawValue): paused by \(control.changedBy); running processes hold at their next batch "
              + "(program-versioning \(Kind.kind.rawValue) resume to go on)")
    }
}

struct ResumeCommand<Kind: ControlledKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "resume", abstract: "Let paused \(Kind.kind.rawValue) runs go on.")
    }
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let control = try await reportingErrors(connection: connection) {
            try await withPool(connection) { try await BackgroundControl.setPaused(false, kind: Kind.kind, reason: nil, pool: $0) }
        }
        print("\(Kind.kind.rawValue): resumed by \(control.changedBy); running processes go on within a second")
    }
}

struct TuneCommand<Kind: ControlledKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "tune",
            abstract: "Change the batch size of running \(Kind.kind.rawValue) runs from their next batch.")
    }
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Records per batch (pages for a check), or \"auto\" for each run's own.") var batchSize: String

    func validate() throws {
        guard batchSize == "auto" || Int(batchSize).map({ (1...100_000).contains($0) }) == true else {
            throw ValidationError("--batch-size must be between 1 and 100000, or auto")
        }
    }

    func run() async throws {
        let size = Int(batchSize)
        _ = try await reportingErrors(connection: connection) {
            try await withPool(connection) { try await BackgroundControl.setBatchSize(size, kind: Kind.kind, pool: $0) }
        }
        print("\(Kind.kind.rawValue): batch size \(size.map(String.init) ?? "each run's own") from the next batch")
    }
}
