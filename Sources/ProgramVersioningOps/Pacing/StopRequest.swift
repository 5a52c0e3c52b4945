import Synchronization

/// "Finish the batch in hand, then stop": what SIGINT or SIGTERM asks of a backfill or a
/// check. A long run checks it between batches, marks itself INTERRUPTED and returns what
/// it did; a second signal is the caller's to handle (the CLI exits at once).
public final class StopRequest: Sendable {
    private let reason = Mutex<String?>(nil)

    public init() {}

    /// Asks the run to stop after its current batch; `why` shows in its run row.
    public func request(_ why: String) {
        reason.withLock { if $0 == nil { $0 = why } }
    }

    /// Why a stop was asked for, if it was.
    public var requested: String? { reason.withLock { $0 } }
}
