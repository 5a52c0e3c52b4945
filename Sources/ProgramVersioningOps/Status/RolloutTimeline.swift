import Foundation
import PostgresDriver

/// The rollout's history as events on one time line: flag flips (from the audit), backfill
/// runs and check runs, oldest first; what `status --format html` draws.
public struct RolloutTimeline: Sendable {
    public enum Lane: String, Sendable, CaseIterable {
        case flags, backfills, checks
    }

    public struct Event: Sendable {
        public var lane: Lane
        public var start: Date
        /// Runs have an end; flips are instants.
        public var end: Date?
        public var label: String
        /// False for a refused-looking outcome: a check with differences, a failed run.
        public var ok: Bool
        /// A few words that fit under a mark on the chart.
        public var shortLabel: String
    }

    public var events: [Event]

    public static func load(pool: PGPool, limit: Int = 200) async throws -> RolloutTimeline {
        let flips = try await FlagStore(pool: pool).history(limit: limit).map { entry in
            let short = entry.name.replacingOccurrences(of: "PROGRAM_VERSIONING_", with: "")
            let state = entry.newEnabled ? (entry.name.hasSuffix("READS") ? "\(entry.newPercent)%" : "on") : "off"
            return Event(
                lane: .flags, start: entry.changedAt, end: nil, label: "\(short) \(state)" + (entry.reason.map { " (\($0))" } ?? ""),
                ok: !entry.forced, shortLabel: "\(short.prefix(6).lowercased()) \(state)")
        }
        let backfills = try await pool.query("""
            SELECT kind, status, started_at, finished_at, seen, reported FROM backfill_runs
             WHERE NOT dry_run ORDER BY started_at DESC LIMIT \(limit)
            """).map { row in
            let (kind, status, started, finished, seen, reported) = try row.decode((String, String, Date, Date?, Int, Int).self)
            return Event(lane: .backfills, start: started, end: finished, label: "\(kind) \(status): \(seen) seen, \(reported) reported",
                         ok: status == "SUCCEEDED" || status == "RUNNING", shortLabel: kind)
        }
        let checks = try await pool.query("""
            SELECT started_at, finished_at, status, difference_count FROM check_runs
             WHERE status IN ('CLEAN', 'DIFFERENCES') AND user_filter IS NULL ORDER BY finished_at DESC LIMIT \(limit)
            """).map { row in
            let (started, finished, status, count) = try row.decode((Date, Date?, String, Int).self)
            return Event(lane: .checks, start: finished ?? started, end: finished, label: status == "CLEAN" ? "clean" : "\(count) differences",
                         ok: status == "CLEAN", shortLabel: status == "CLEAN" ? "clean" : "\(count) diff")
        }
        return RolloutTimeline(events: (flips + backfills + checks).sorted { $0.start < $1.start })
    }
}
