import Foundation

/// How gently a backfill or a check goes about its work (DESIGN.md §5, issue 17): how long
/// a batch should take, and what makes it wait between batches. The defaults are what the
/// CLI runs with.
public struct ThrottleOptions: Sendable, Equatable {
    /// With no fixed batch size, each batch is sized to take about this long (GitLab's
    /// batched migrations adapt the same way): an app save waits for a backfill's row lock
    /// at most about one batch.
    public var targetBatchDuration: Duration
    /// After each batch, rest this fraction of the batch's duration (0: none), leaving the
    /// database's cores to the app.
    public var restFraction: Double
    /// Wait while a streaming replica is further behind than this (nil: never). gh-ost's
    /// default is 1.5 s.
    public var maxReplicaLag: Duration?
    /// Wait while autovacuum works on a table the run writes (GitLab's batched migrations do).
    public var pauseDuringAutovacuum: Bool
    /// An operator's SQL returning one boolean: true means wait. Run read-only, with a
    /// 5-second statement timeout.
    public var throttleQuery: String?

    public init(
        targetBatchDuration: Duration = .milliseconds(200), restFraction: Double = 0, maxReplicaLag: Duration? = .milliseconds(1_500),
        pauseDuringAutovacuum: Bool = true, throttleQuery: String? = nil
    ) {
        self.targetBatchDuration = targetBatchDuration
        self.restFraction = restFraction
        self.maxReplicaLag = maxReplicaLag
        self.pauseDuringAutovacuum = pauseDuringAutovacuum
        self.throttleQuery = throttleQuery
    }

    /// Nothing waits except for an operator's pause (which always counts).
    public static let off = ThrottleOptions(maxReplicaLag: nil, pauseDuringAutovacuum: false)
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
