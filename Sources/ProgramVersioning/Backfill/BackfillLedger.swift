import Foundation
import PostgresDriver

/// The run's row in `backfill_runs`: counts and the keyset cursor, advanced inside each
/// batch's own transaction, so a run killed at any point resumes exactly after the last
/// batch that committed, neither redoing nor skipping work.
struct BackfillLedger {
    let runID: UUID
    /// True when this invocation continues a run whose process died.
    let resumed: Bool
    /// The last key a committed batch covered (nil: start from the beginning).
    let cursor: UUID?
    /// What committed batches of this run did so far.
    let counts: BackfillCounts
    let countsBefore: BackfillAudit.Counts

    /// A repair (`repairOfCheck`) always starts a run of its own, which nothing resumes.
    /// Otherwise: resumes the newest run of this kind and scope when it did not finish (RUNNING: its
    /// process died, since the caller holds the backfill lock; FAILED: it stopped on an
    /// error), or starts a new one. Other RUNNING runs of this kind are marked INTERRUPTED.
    static func open(
        _ kind: BackfillKind, options: BackfillOptions, countsBefore: BackfillAudit.Counts, repairOfCheck: UUID? = nil,
        on connection: PostgresConnection
    ) async throws -> BackfillLedger {
        let user = options.userID?.uuidString.lowercased()
        let running = try await connection.query("""
            WITH latest AS (
              SELECT id, status FROM backfill_runs
               WHERE kind = \(kind.rawValue) AND NOT dry_run AND (options->>'user') IS NOT DISTINCT FROM \(user)
                 AND NOT options ? 'repairOfCheck'
                 AND \(repairOfCheck)::uuid IS NULL
               ORDER BY started_at DESC LIMIT 1
            )
            UPDATE backfill_runs r
               SET status = 'RUNNING', finished_at = NULL,
                   error = CASE WHEN r.error IS NULL THEN NULL ELSE 'resumed after: ' || r.error END
              FROM latest
             WHERE r.id = latest.id AND latest.status IN ('RUNNING', 'FAILED')
            RETURNING r.id, r.cursor_key, r.seen, r.migrated, r.unchanged, r.linked, r.already_linked, r.reported,
                      r.sets_linked, r.sets_reported, r.counts_before::text, r.written
            """)
        let resumable = try running.first.map { row in
            let (id, cursor, seen, migrated, unchanged, linked, alreadyLinked, reported, setsLinked, setsReported, before, written) =
                try row.decode((UUID, String?, Int, Int, Int, Int, Int, Int, Int, Int, String?, Int).self)
            var counts = BackfillCounts()
            (counts.seen, counts.migrated, counts.unchanged, counts.linked, counts.written) = (seen, migrated, unchanged, linked, written)
            (counts.alreadyLinked, counts.reported, counts.setsLinked, counts.setsReported) = (alreadyLinked, reported, setsLinked, setsReported)
            return BackfillLedger(
                runID: id, resumed: true, cursor: cursor.flatMap(UUID.init(uuidString:)), counts: counts,
                countsBefore: before.flatMap(BackfillAudit.Counts.init(json:)) ?? countsBefore)
        }
        try await connection.query("""
            UPDATE backfill_runs
               SET status = 'INTERRUPTED', finished_at = now(),
                   error = coalesce(error || '; ', '') || 'not finished; a later run started over'
             WHERE kind = \(kind.rawValue) AND status = 'RUNNING' AND id IS DISTINCT FROM \(resumable?.runID)
            """)
        if let resumable { return resumable }

        let runID = UUID()
        try await connection.query("""
            INSERT INTO backfill_runs (id, kind, flags, options, counts_before)
            SELECT \(runID), \(kind.rawValue),
                   (SELECT coalesce(jsonb_object_agg(name, jsonb_build_object('enabled', enabled, 'percent', percent)), '{}')
                      FROM runtime_flags),
                   jsonb_build_object('batchSize', \(options.batchSize), 'limit', \(options.limit)::int8, 'user', \(user)::text,
                                      'allowWritesOff', \(options.allowWritesOff))
                   || CASE WHEN \(repairOfCheck)::uuid IS NULL THEN '{}'::jsonb
                           ELSE jsonb_build_object('repairOfCheck', \(repairOfCheck)::uuid) END,
                   \(countsBefore.json)::jsonb
            """)
        return BackfillLedger(runID: runID, resumed: false, cursor: nil, counts: BackfillCounts(), countsBefore: countsBefore)
    }

    /// Adds one batch's counts and moves the cursor; call inside the batch's transaction.
    func advance(by batch: BackfillCounts, to cursor: UUID, on connection: PostgresConnection) async throws {
        let updated = try await connection.query("""
            UPDATE backfill_runs
               SET cursor_key = \(cursor.uuidString.lowercased()), seen = seen + \(batch.seen),
                   migrated = migrated + \(batch.migrated), written = written + \(batch.written),
                   unchanged = unchanged + \(batch.unchanged),
                   linked = linked + \(batch.linked), already_linked = already_linked + \(batch.alreadyLinked),
                   reported = reported + \(batch.reported), sets_linked = sets_linked + \(batch.setsLinked),
                   sets_reported = sets_reported + \(batch.setsReported)
             WHERE id = \(runID) AND status = 'RUNNING'
            """)
        guard updated.affectedRows == 1 else {
            throw BackfillError.runTakenOver(runID)
        }
    }

    /// Ends the run and returns the counts as stored.
    func finish(status: String, countsAfter: BackfillAudit.Counts?, error: String?, on connection: PostgresConnection) async throws -> BackfillCounts {
        let row = try await connection.query("""
            UPDATE backfill_runs SET status = \(status), finished_at = now(), counts_after = \(countsAfter?.json)::jsonb, error = \(error)
             WHERE id = \(runID)
            RETURNING seen, migrated, unchanged, linked, already_linked, reported, sets_linked, sets_reported, written
            """).single()
        let (seen, migrated, unchanged, linked, alreadyLinked, reported, setsLinked, setsReported, written) =
            try row.decode((Int, Int, Int, Int, Int, Int, Int, Int, Int).self)
        var counts = BackfillCounts()
        (counts.seen, counts.migrated, counts.unchanged, counts.linked, counts.written) = (seen, migrated, unchanged, linked, written)
        (counts.alreadyLinked, counts.reported, counts.setsLinked, counts.setsReported) = (alreadyLinked, reported, setsLinked, setsReported)
        return counts
    }
}
