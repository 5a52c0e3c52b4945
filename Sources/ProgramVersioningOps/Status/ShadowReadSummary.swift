import Foundation
import PostgresDriver

/// What the app instances' shadow reads saw over a window (`shadow_read_minutes`, migration
/// 23): the consistency rate and the error and fallback rates a ramp is judged by.
public struct ShadowReadSummary: Sendable {
    public var since: Date
    public var instances: Int
    public var legacyReads: Int
    public var legacyReadErrors: Int
    public var legacyReadMilliseconds: Double
    public var versionedReads: Int
    public var versionedReadErrors: Int
    public var versionedReadMilliseconds: Double
    public var fallbacks: Int
    public var saves: Int
    public var saveErrors: Int
    public var compared: Int
    public var mismatched: Int
    public var shadowErrors: Int
    public var skipped: Int
    /// The paths that differed most often, most frequent first (at most 10).
    public var topMismatchPaths: [(path: String, count: Int)]

    /// Matches among comparisons, in percent; nil with no comparison.
    public var consistencyPercent: Double? { percent(compared - mismatched, of: compared) }
    /// Reads that wanted the versions and were served legacy (no version, or a stale one).
    public var fallbackPercent: Double? { percent(fallbacks, of: versionedReads + fallbacks) }
    /// Failed reads among reads, per side.
    public var legacyErrorPercent: Double? { percent(legacyReadErrors, of: legacyReads + legacyReadErrors) }
    public var versionedErrorPercent: Double? { percent(versionedReadErrors, of: versionedReads + versionedReadErrors) }
    public var saveErrorPercent: Double? { percent(saveErrors, of: saves + saveErrors) }
    public var legacyMeanMilliseconds: Double? { legacyReads > 0 ? legacyReadMilliseconds / Double(legacyReads) : nil }
    public var versionedMeanMilliseconds: Double? { versionedReads > 0 ? versionedReadMilliseconds / Double(versionedReads) : nil }

    private func percent(_ part: Int, of whole: Int) -> Double? {
        whole > 0 ? Double(part) * 100 / Double(whole) : nil
    }

    /// The minutes since `window` ago (the current, unfinished minute included).
    public static func load(pool: PGPool, window: Duration) async throws -> ShadowReadSummary {
        let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        return try await load(pool: pool, since: Date().addingTimeInterval(-seconds))
    }

    /// The minutes from the one holding `since` on.
    public static func load(pool: PGPool, since: Date) async throws -> ShadowReadSummary {
        try await pool.withConnection { connection in
            let row = try await connection.query("""
                SELECT count(DISTINCT instance), coalesce(sum(legacy_reads), 0)::int8, coalesce(sum(legacy_read_errors), 0)::int8,
                       coalesce(sum(legacy_read_ms), 0)::float8, coalesce(sum(versioned_reads), 0)::int8,
                       coalesce(sum(versioned_read_errors), 0)::int8, coalesce(sum(versioned_read_ms), 0)::float8,
                       coalesce(sum(fallbacks), 0)::int8, coalesce(sum(saves), 0)::int8, coalesce(sum(save_errors), 0)::int8,
                       coalesce(sum(compared), 0)::int8, coalesce(sum(mismatched), 0)::int8, coalesce(sum(shadow_errors), 0)::int8,
                       coalesce(sum(skipped), 0)::int8
                  FROM shadow_read_minutes WHERE minute >= date_trunc('minute', \(since))
                """).single()
            let paths = try await connection.query("""
                SELECT p.key, sum(p.value::int8)::int8 FROM shadow_read_minutes m, jsonb_each_text(m.mismatch_paths) p
                 WHERE m.minute >= date_trunc('minute', \(since))
                 GROUP BY p.key ORDER BY 2 DESC, 1 LIMIT 10
                """).map { try $0.decode((String, Int).self) }
            func int(_ index: Int) throws -> Int { try row.decode(Int.self, at: index) }
            func double(_ index: Int) throws -> Double { try row.decode(Double.self, at: index) }
            return ShadowReadSummary(
                since: since, instances: try int(0), legacyReads: try int(1), legacyReadErrors: try int(2),
                legacyReadMilliseconds: try double(3), versionedReads: try int(4), versionedReadErrors: try int(5),
                versionedReadMilliseconds: try double(6), fallbacks: try int(7), saves: try int(8), saveErrors: try int(9),
                compared: try int(10), mismatched: try int(11), shadowErrors: try int(12), skipped: try int(13),
                topMismatchPaths: paths.map { (path: $0.0, count: $0.1) })
        }
    }
}
