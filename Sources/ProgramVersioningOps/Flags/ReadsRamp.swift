import Foundation
import PostgresDriver
import RuntimeFlags

/// `flags ramp reads`: PROGRAM_VERSIONING_READS advanced step by step while the app
/// instances' shadow reads (`shadow_read_minutes`) stay consistent and error-free, and
/// turned off on its own, audited with the reason, as soon as one rate breaches (as
/// guarded rollouts do). Every step is a flip the flag store's gates judge: the ramp can go
/// no further than the clean-check evidence allows, whatever the rows say.
public struct ReadsRamp: Sendable {
    public struct Options: Sendable {
        /// READS percentages, ascending.
        public var steps: [Int]
        /// How long each step holds before the next.
        public var every: Duration
        public var minConsistencyPercent: Double
        /// Reads meant for the versions but served legacy (no version, a stale one).
        public var maxFallbackPercent: Double
        /// Failed reads from the versions, and failed saves.
        public var maxErrorPercent: Double
        /// Comparisons a step needs before the next (it holds longer, up to `every` more,
        /// until it has them).
        public var minComparisons: Int
        /// Rates are judged once their count reaches this (a breach on fewer is noise).
        public var minSampleToJudge: Int
        public var pollInterval: Duration
        public var actor: String

        public init(
            steps: [Int], every: Duration, minConsistencyPercent: Double = 99.9, maxFallbackPercent: Double = 1,
            maxErrorPercent: Double = 1, minComparisons: Int = 100, minSampleToJudge: Int = 20, pollInterval: Duration? = nil,
            actor: String
        ) {
            self.steps = steps
            self.every = every
            self.minConsistencyPercent = minConsistencyPercent
            self.maxFallbackPercent = maxFallbackPercent
            self.maxErrorPercent = maxErrorPercent
            self.minComparisons = minComparisons
            self.minSampleToJudge = max(1, minSampleToJudge)
            self.pollInterval = pollInterval ?? min(max(every / 10, .seconds(1)), .seconds(30))
            self.actor = actor
        }
    }

    public enum Event: Sendable {
        case stepStarted(percent: Int)
        case holding(percent: Int, ShadowReadSummary, remaining: Duration)
        case waitingForComparisons(percent: Int, have: Int, need: Int)
    }

    public enum Outcome: Sendable {
        /// READS reached the last step.
        case completed(percent: Int)
        /// A rate breached: READS was turned off, audited with `reason`.
        case rolledBack(atPercent: Int, reason: String)
        /// The flag store refused a step (e.g. no fresh clean check); READS stays where it was.
        case refused(atPercent: Int, FlagChangeRefused)
        /// A step saw too few comparisons within twice its time; READS stays where it was.
        case notEnoughTraffic(atPercent: Int, comparisons: Int)
        /// Asked to stop; READS stays where it was.
        case stopped(atPercent: Int, why: String)
    }

    private let pool: PGPool

    public init(pool: PGPool) {
        self.pool = pool
    }

    public func run(_ options: Options, stop: StopRequest = StopRequest(), onEvent: @Sendable (Event) -> Void = { _ in }) async throws -> Outcome {
        let store = FlagStore(pool: pool)
        let start = try await store.snapshot()
        var percent = start.reads ? start.readPercent : 0
        let total = options.steps.count
        for (index, step) in options.steps.enumerated() where step > percent {
            do {
                try await store.set(
                    .reads, enabled: true, percent: step, actor: options.actor,
                    reason: "ramp: step \(index + 1) of \(total) (\(options.steps.map(String.init).joined(separator: ",")))", force: false)
            } catch let refused as FlagChangeRefused {
                return .refused(atPercent: percent, refused)
            }
            percent = step
            onEvent(.stepStarted(percent: step))
            let started = Date()
            let clock = ContinuousClock()
            let stepStart = clock.now
            while true {
                if let why = stop.requested { return .stopped(atPercent: percent, why: why) }
                try await Task.sleep(for: options.pollInterval)
                let summary = try await ShadowReadSummary.load(pool: pool, since: started)
                if let breach = Self.breach(summary, options) {
                    let reason = "ramp rolled back at \(percent) %: \(breach)"
                    try await store.set(.reads, enabled: false, actor: options.actor, reason: reason, force: false)
                    return .rolledBack(atPercent: percent, reason: reason)
                }
                let elapsed = clock.now - stepStart
                if elapsed < options.every {
                    onEvent(.holding(percent: step, summary, remaining: options.every - elapsed))
                    continue
                }
                if step == options.steps.last || summary.compared >= options.minComparisons { break }
                if elapsed >= options.every * 2 { return .notEnoughTraffic(atPercent: percent, comparisons: summary.compared) }
                onEvent(.waitingForComparisons(percent: step, have: summary.compared, need: options.minComparisons))
            }
        }
        return .completed(percent: percent)
    }

    /// The first rate out of bounds, said with its numbers; nil while all hold.
    static func breach(_ summary: ShadowReadSummary, _ options: Options) -> String? {
        func text(_ value: Double) -> String { String(format: "%.2f %%", value) }
        if summary.compared >= options.minSampleToJudge, let rate = summary.consistencyPercent, rate < options.minConsistencyPercent {
            let path = summary.topMismatchPaths.first.map { "; most differing: \($0.path)" } ?? ""
            return "shadow-read consistency \(text(rate)) < \(text(options.minConsistencyPercent)) "
                + "(\(summary.mismatched) of \(summary.compared) comparisons differed\(path))"
        }
        if summary.versionedReads + summary.fallbacks >= options.minSampleToJudge, let rate = summary.fallbackPercent,
           rate > options.maxFallbackPercent {
            return "fallback rate \(text(rate)) > \(text(options.maxFallbackPercent)) (\(summary.fallbacks) reads served legacy)"
        }
        if summary.versionedReads + summary.versionedReadErrors >= options.minSampleToJudge, let rate = summary.versionedErrorPercent,
           rate > options.maxErrorPercent {
            return "read error rate from the versions \(text(rate)) > \(text(options.maxErrorPercent))"
        }
        if summary.saves + summary.saveErrors >= options.minSampleToJudge, let rate = summary.saveErrorPercent, rate > options.maxErrorPercent {
            return "save error rate \(text(rate)) > \(text(options.maxErrorPercent))"
        }
        return nil
    }
}
