import Foundation
import ProgramDomain

/// Shadow reads: for a sample of reads, also read the other side and compare, to prove
/// the versioned tables serve what legacy serves before users depend on it.
///
/// The bound on the served read: a sampled read only queues a comparison and returns at
/// once (the served read waits for nothing else). The comparisons run in the repository's
/// `run()` (add the repository to the app's `ServiceGroup`); at most `maxInFlight` are
/// queued or running, each holding one pool connection while it runs, and samples beyond
/// that (or while nothing runs them) are skipped and counted. A shadow read never throws
/// to the caller: its failures are logged. (Programs the served side read from legacy and that have no current version
/// have nothing to compare and are not counted.)
public struct ShadowReads: Sendable {
    /// Share of reads compared, 0...1.
    public var sampleRate: Double
    public var maxInFlight: Int
    /// Called (on the repository's `run()`) for every mismatch, besides the log and the metric.
    public var onMismatch: (@Sendable (ShadowMismatch) -> Void)?
    /// Stores this instance's counts per minute in `shadow_read_minutes` (written by the
    /// repository's `run()`): the comparisons, and the reads, errors, fallbacks and saves of
    /// each side, so `status` can show the consistency rate and `flags ramp reads` gate on it.
    /// Nil: counted in metrics only.
    public var recording: ShadowReadRecording?

    public init(
        sampleRate: Double, maxInFlight: Int = 2, recording: ShadowReadRecording? = nil,
        onMismatch: (@Sendable (ShadowMismatch) -> Void)? = nil
    ) {
        self.sampleRate = min(max(sampleRate, 0), 1)
        self.maxInFlight = max(maxInFlight, 1)
        self.recording = recording
        self.onMismatch = onMismatch
    }

    public static let off = ShadowReads(sampleRate: 0)
}

/// A read whose two sides disagreed.
public struct ShadowMismatch: Sendable {
    public var programID: UUID
    /// The side the user was served.
    public var served: ReadSource
    /// Differences, `left` being the served side.
    public var differences: [ProgramDifference]
}
