import Logging
import PostgresDriver

/// Planner statistics of the versioned tables, refreshed once when they say "empty".
///
/// Plans for the foreign-key and statement checks on the versioned tables are cached per connection
/// from the first executions. Planned while the statistics say a table is empty, they scan
/// it sequentially, and keep doing so as the backfill fills it: every batch would then pay
/// for every row written before it. One ANALYZE after the first batch gives the planner
/// real numbers and invalidates those plans, so every later check is an index lookup.
/// Autovacuum would get there too, but only after a minute or so of quadratic work.
struct VersionTableStatistics {
    /// The smallest row estimate among the four tables when the run started.
    var smallestEstimate: Double

    static func read(on connection: PGConnection) async throws -> VersionTableStatistics {
        let smallest = try await connection.query("""
            SELECT min(reltuples)::float8 FROM pg_class
             WHERE oid IN ('program_versions'::regclass, 'program_version_workouts'::regclass,
                           'program_version_exercises'::regclass, 'program_version_schedule'::regclass)
            """).single().decode(Double?.self, at: 0)
        return VersionTableStatistics(smallestEstimate: smallest ?? -1)
    }

    /// Call after the first batch that wrote versions has committed.
    func refreshIfNearlyEmpty(on connection: PGConnection, logger: Logger) async {
        // reltuples is -1 for a table never analyzed and 0 for one analyzed while empty.
        guard smallestEstimate < 1_000 else { return }
        do {
            try await connection.query(
                "ANALYZE program_versions, program_version_workouts, program_version_exercises, program_version_schedule")
            logger.info("analyzed the versioned tables after the first batch, so checks use their indexes")
        } catch {
            // Not the owner: autovacuum's analyze will do it; the run is only slower until then.
            logger.warning("could not analyze the versioned tables; the first minute may be slow", metadata: ["error": "\(error)"])
        }
    }
}
