import Foundation
import PostgresDriver

/// How far behind the primary its streaming replicas are.
///
/// `pg_stat_replication.replay_lag` is measured only when a standby replays: one whose
/// replay stopped (`pg_wal_replay_pause()`, a long conflict) keeps showing its last small
/// value, then NULL. So this also keeps samples of the primary's WAL position over time: a
/// standby that has not replayed up to the position the primary had at time t is at least
/// now - t behind. The larger of the two is the lag.
struct ReplicaLag: Sendable {
    /// A standby further behind than the others.
    struct Worst: Sendable, Equatable {
        var standby: String
        var seconds: Double
    }

    private var samples: [(at: ContinuousClock.Instant, lsn: Int64)] = []
    /// Samples older than this are dropped (a standby further behind reads as this far).
    private let keep: Duration = .seconds(900)

    /// Samples the primary's position and returns the standby furthest behind (nil when
    /// there is none, or on a standby, whose own replicas a run does not wait for).
    mutating func measure(on connection: PGConnection) async throws -> Worst? {
        let rows = try await connection.query("""
            SELECT CASE WHEN NOT pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8 END,
                   coalesce(nullif(r.application_name, ''), host(r.client_addr), 'pid ' || r.pid),
                   pg_wal_lsn_diff(r.replay_lsn, '0/0')::int8, extract(epoch FROM r.replay_lag)::float8
              FROM (SELECT 1) one
              LEFT JOIN pg_stat_replication r ON r.state IN ('streaming', 'catchup')
            """)
        let now = ContinuousClock.now
        var worst: Worst?
        for (index, row) in rows.enumerated() {
            let (primaryPosition, name, replayed, reportedLag) = try row.decode((Int64?, String?, Int64?, Double?).self)
            guard let current = primaryPosition else { return nil }
            if index == 0 {
                samples.append((now, current))
                samples.removeAll { $0.at.duration(to: now) > keep }
            }
            guard let name else { continue }
            // Without pg_read_all_stats the position reads NULL: only the reported lag is left.
            let sampled = replayed.flatMap { position in samples.first { $0.lsn > position } }.map { $0.at.duration(to: now).seconds } ?? 0
            let lag = max(sampled, reportedLag ?? 0)
            if lag > (worst?.seconds ?? -1) { worst = Worst(standby: name, seconds: lag) }
        }
        return worst
    }
}
