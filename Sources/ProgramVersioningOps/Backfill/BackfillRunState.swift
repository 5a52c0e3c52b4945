import PostgresDriver

/// Where a backfill run is: the values `backfill_runs.status` allows (its CHECK constraint),
/// and STALE, which `backfill status` derives for a RUNNING row whose process is gone.
public enum BackfillRunState: String, Sendable, CaseIterable, PGDecodable, PGEncodable {
    case running = "RUNNING"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
    /// Asked to stop; the next run of its kind resumes it.
    case interrupted = "INTERRUPTED"
    /// Derived, never stored: RUNNING, but its process no longer holds the backfill lock.
    case stale = "STALE"
}
