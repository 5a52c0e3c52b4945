import ArgumentParser
import Foundation
import ProgramVersioning
import ProgramVersioningOps

/// A duration on the command line: "500ms", "1.5s", "2m", "24h", "7d", or a plain number of seconds.
struct DurationArgument: ExpressibleByArgument, Sendable {
    var duration: Duration
    /// "off" (where allowed).
    var off = false

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        if text == "off" {
            duration = .zero
            off = true
            return
        }
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3_600), ("d", 86_400)]
        let unit = units.first { text.hasSuffix($0.suffix) } ?? ("", 1)
        guard let value = Double(text.dropLast(unit.suffix.count)), value.isFinite, value >= 0 else { return nil }
        duration = .milliseconds(Int64((value * unit.seconds * 1_000).rounded()))
    }

    init(_ duration: Duration) {
        self.duration = duration
    }

    var defaultValueDescription: String {
        let (seconds, attoseconds) = duration.components
        return off ? "off" : "\(seconds * 1_000 + attoseconds / 1_000_000_000_000_000)ms"
    }
}

/// How gently a backfill or a check goes (`ThrottleOptions`), from the command line.
struct ThrottleArguments: ParsableArguments {
    @Option(help: "With no --batch-size, size each batch to take about this long (e.g. 200ms, 1s).")
    var targetBatchDuration = DurationArgument(.milliseconds(200))
    @Option(help: "After each batch rest this fraction of its duration (0: none), leaving the cores to the app.")
    var restRatio: Double = 0
    @Option(help: "Wait while a streaming replica is further behind than this (e.g. 1.5s), or off.")
    var maxReplicaLag = DurationArgument(.milliseconds(1_500))
    @Flag(help: "Do not wait while autovacuum works on a table the run writes.")
    var noAutovacuumPause = false
    @Option(help: "SQL returning one boolean, run read-only between batches: true means wait (e.g. a load signal of your own).")
    var throttleQuery: String?
    @Flag(help: "Wait for nothing but an operator's pause (as fast as the database allows).")
    var noThrottle = false

    func validate() throws {
        guard (0...10).contains(restRatio) else { throw ValidationError("--rest-ratio must be between 0 and 10") }
        guard !targetBatchDuration.off, targetBatchDuration.duration >= .milliseconds(10) else {
            throw ValidationError("--target-batch-duration must be 10ms or more")
        }
        if let throttleQuery, throttleQuery.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ValidationError("--throttle-query is empty")
        }
    }

    var options: ThrottleOptions {
        if noThrottle { return .off }
        return ThrottleOptions(
            targetBatchDuration: targetBatchDuration.duration, restFraction: restRatio,
            maxReplicaLag: maxReplicaLag.off ? nil : maxReplicaLag.duration, pauseDuringAutovacuum: !noAutovacuumPause,
            throttleQuery: throttleQuery)
    }
}
