import PostgresDriver

/// What a long run does between two batches: stops when asked, waits while a throttle
/// signal says so (showing why, and again every few seconds as a heartbeat), sizes the next
/// batch, and rests after one if told to.
struct BatchPacer: Sendable {
    let signals: ThrottleSignals
    private(set) var sizer: BatchSizer
    let restFraction: Double
    let stop: StopRequest?
    /// Time spent waiting on the signals so far.
    private(set) var throttled: Duration = .zero
    private var override: Int?

    init(signals: ThrottleSignals, fixedBatchSize: Int?, options: ThrottleOptions, stop: StopRequest?) {
        self.signals = signals
        sizer = BatchSizer(fixed: fixedBatchSize, target: options.targetBatchDuration)
        restFraction = max(0, options.restFraction)
        self.stop = stop
    }

    /// The next batch's size once nothing says wait, or nil when a stop was asked for.
    /// `show` gets each reason to wait when it starts, every 5 s while it lasts, and nil
    /// when the wait ends.
    mutating func nextBatchSize(on connection: PGConnection, show: (String?) async throws -> Void) async throws -> Int? {
        var shown: String?
        var shownAt = ContinuousClock.now
        var waitingSince: ContinuousClock.Instant?
        defer {
            if let waitingSince { throttled += waitingSince.duration(to: .now) }
        }
        while true {
            if stop?.requested != nil { return nil }
            let verdict = try await signals.verdict(on: connection)
            override = verdict.batchSize
            guard let reason = verdict.waitReason else {
                if shown != nil { try await show(nil) }
                return sizer.next(override: override)
            }
            if waitingSince == nil { waitingSince = .now }
            if reason != shown || shownAt.duration(to: .now) >= .seconds(5) {
                try await show(reason)
                (shown, shownAt) = (reason, .now)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// After a batch of `records` that took `took`: learns its size, then rests if told to.
    mutating func finished(records: Int, took: Duration) async throws {
        sizer.record(records: records, took: took, override: override)
        if restFraction > 0, stop?.requested == nil { try await Task.sleep(for: took * restFraction) }
    }
}
