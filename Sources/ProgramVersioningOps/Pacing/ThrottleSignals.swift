import Foundation
import Logging
import PostgresDriver
import Synchronization

/// Everything that says a backfill or a check should wait before its next batch, in this
/// order: the operator's pause (the control row), the throttle query, replica lag, and
/// autovacuum on a table the run writes. Read before every batch on the run's own
/// connection (no connection of its own, nothing running in the background), so a pause
/// holds a run at its next batch; the parallel walks of a check share a reading while one
/// is under way.
final class ThrottleSignals: Sendable {
    /// What the run's loop reads before each batch.
    struct Verdict: Sendable, Equatable {
        /// Why to wait now ("paused by alice ...", "replica lag 2.3 s on standby-1 (limit 1.5 s)"), nil to go on.
        var waitReason: String?
        /// The operator's live batch size, if set.
        var batchSize: Int?
    }

    private let control: BackgroundControl.Kind
    private let options: ThrottleOptions
    private let writtenTables: [String]
    /// Where the control row lives when it is not the run's database (a check reading a
    /// standby keeps its control row on the primary it records to).
    private let controlPool: PGPool?
    private let logger: Logger
    private struct State {
        var verdict: Verdict?
        var reading = false
        var lag = ReplicaLag()
    }
    private let state = Mutex(State())

    init(control: BackgroundControl.Kind, options: ThrottleOptions, writtenTables: [String], controlPool: PGPool? = nil, logger: Logger) {
        self.control = control
        self.options = options
        self.writtenTables = writtenTables
        self.controlPool = controlPool
        self.logger = logger
    }

    /// Before the first batch: an unusable throttle query fails here, and a role that
    /// cannot see other sessions' statistics is warned about.
    func prepare(on connection: PGConnection) async throws {
        if let query = options.throttleQuery {
            do {
                _ = try await throttleQuerySaysWait(query, on: connection)
            } catch let error as ThrottleQueryError {
                throw error
            } catch {
                throw ThrottleQueryError.failed(Self.firstLine(of: error))
            }
        }
        let sees = try await connection.query("""
            SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
                   OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
            """).single().decode(Bool.self, at: 0)
        if !sees, options.maxReplicaLag != nil || (options.pauseDuringAutovacuum && !writtenTables.isEmpty) {
            logger.warning("""
                this role cannot see other sessions' statistics, so replica lag is read only as the standbys report it and \
                autovacuum is not watched; grant it pg_monitor (as a superuser: GRANT pg_monitor TO <role>)
                """)
        }
    }

    /// The verdict now: read on `connection`, unless another walk is reading it right now
    /// (then the last one).
    func verdict(on connection: PGConnection) async throws -> Verdict {
        let claimed = state.withLock { state -> (verdict: Verdict?, lag: ReplicaLag?) in
            if let verdict = state.verdict, state.reading {
                return (verdict, nil)
            }
            state.reading = true
            return (nil, state.lag)
        }
        if let verdict = claimed.verdict { return verdict }
        var lag = claimed.lag ?? ReplicaLag()
        do {
            let verdict = try await read(&lag, on: connection)
            state.withLock { $0 = State(verdict: verdict, reading: false, lag: lag) }
            return verdict
        } catch {
            state.withLock { $0.reading = false }
            throw error
        }
    }

    private func read(_ lag: inout ReplicaLag, on connection: PGConnection) async throws -> Verdict {
        let control = if let controlPool {
            try await controlPool.withConnection { try await BackgroundControl.read(self.control, on: $0) }
        } else {
            try await BackgroundControl.read(self.control, on: connection)
        }
        var verdict = Verdict(waitReason: nil, batchSize: control.batchSize)
        if control.paused {
            verdict.waitReason = "paused by \(control.changedBy) at \(Self.time(control.changedAt))"
                + (control.reason.map { " (\($0))" } ?? "") + "; resume with program-versioning \(self.control.rawValue) resume"
            return verdict
        }
        if let query = options.throttleQuery {
            let wait: Bool
            do {
                wait = try await throttleQuerySaysWait(query, on: connection)
            } catch {
                // It worked when the run started: wait rather than run blind.
                verdict.waitReason = "the throttle query failed (\(Self.firstLine(of: error)))"
                return verdict
            }
            if wait {
                verdict.waitReason = "the throttle query returned true"
                return verdict
            }
        }
        if let limit = options.maxReplicaLag, let worst = try await lag.measure(on: connection), worst.seconds > limit.seconds {
            verdict.waitReason = "replica lag \(Self.seconds(worst.seconds)) s on \(worst.standby) (limit \(Self.seconds(limit.seconds)) s)"
            return verdict
        }
        if options.pauseDuringAutovacuum, !writtenTables.isEmpty {
            let vacuumed = try await connection.query("""
                SELECT c.relname::text FROM pg_stat_progress_vacuum p
                  JOIN pg_class c ON c.oid = p.relid JOIN pg_stat_activity a ON a.pid = p.pid
                 WHERE a.backend_type = 'autovacuum worker' AND c.relnamespace = 'public'::regnamespace
                   AND c.relname = ANY(\(writtenTables))
                 ORDER BY 1 LIMIT 1
                """).first?.decode(String.self, at: 0)
            if let vacuumed { verdict.waitReason = "autovacuum is working on \(vacuumed)" }
        }
        return verdict
    }

    /// The operator's SQL, read-only and time-limited, in a subtransaction so a failure
    /// leaves the caller's connection usable. It is the operator's own statement, run as
    /// given (like psql -c), never built from data.
    private func throttleQuerySaysWait(_ query: String, on connection: PGConnection) async throws -> Bool {
        try await connection.transaction { connection in
            try await connection.executeScript(unsafeSQL: "SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = '5s'")
            let result = try await connection.query(PGQuery(unsafeSQL: query))
            guard let row = result.first else { throw ThrottleQueryError.notBoolean }
            // NULL (a CASE with no ELSE, a lookup that found nothing) means go on.
            let wait: Bool?
            do { wait = try row.decode(Bool?.self, at: 0) } catch { throw ThrottleQueryError.notBoolean }
            return wait ?? false
        }
    }

    static func firstLine(of error: any Error) -> String {
        let text = (error as? PGError)?.message ?? "\(error)"
        return String(text.split(whereSeparator: \.isNewline).first ?? "")
    }

    private static func seconds(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    private static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// Why `--throttle-query` cannot be used.
public enum ThrottleQueryError: Error, Sendable, CustomStringConvertible {
    case notBoolean
    case failed(String)

    public var description: String {
        switch self {
        case .notBoolean:
            "--throttle-query must return one row whose first column is a boolean (true: wait); nothing was run"
        case .failed(let why):
            "--throttle-query failed (\(why)); it runs read-only with a 5 s statement timeout: fix it and run again; nothing was run"
        }
    }
}
