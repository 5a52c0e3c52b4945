import PostgresDriver

/// How a recorded check ended: the values `check_runs.status` allows (its CHECK constraint).
public enum CheckRunStatus: String, Sendable, CaseIterable, PGDecodable, PGEncodable {
    case running = "RUNNING"
    case clean = "CLEAN"
    case differences = "DIFFERENCES"
    case failed = "FAILED"
}

/// Where an unfinished check is: the values `check_progress.status` allows, and STALE,
/// derived for a RUNNING row with no heartbeat for a minute (its process is gone).
public enum CheckProgressState: String, Sendable, CaseIterable, PGDecodable, PGEncodable {
    case running = "RUNNING"
    /// Asked to stop; the next check of its scope resumes it.
    case interrupted = "INTERRUPTED"
    case failed = "FAILED"
    /// Derived, never stored.
    case stale = "STALE"
}
