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
    /// Rows committed batches skipped because another transaction held them, still to do.
    let deferred: [UUID]

    /// A repair (`repairOfCheck`) always starts a run of its own, which nothing resumes.
    /// Otherwise: resumes the newest run of this kind and scope when it did not finish (RUNNING: its
    /// process died, since the caller holds the backfill lock; FAILED: it stopped on an
    /// error; INTERRUPTED: it was asked to stop), or starts a new one. Other RUNNING runs of
    /// this kind are marked INTERRUPTED. The run row names this session and process (a
    /// RUNNING row whose session is gone is STALE) and starts its heartbeat.
    static func open(
        _ kind: BackfillKind, options: BackfillOptions, countsBefore: BackfillAudit.Counts, total: Int, repairOfCheck: UUID? = nil,
        on connection: PGConnection
    ) async throws -> BackfillLedger {
        let client = Self.client
        let user = options.userID?.uuidString.lowercased()
        // The newest run of this kind and scope (none for a repair), read once: resumed if it
        // did not finish, and only with the workers it started with (its cursors are per
        // range), refused before anything is claimed.
        let latest = repairOfCheck != nil ? nil : try await connection.query("""
            SELECT id, status, coalesce((options->>'workers')::int, 1) FROM backfill_runs
             WHERE kind = \(kind.rawValue) AND NOT dry_run AND (options->>'user') IS NOT DISTINCT FROM \(user)
               AND NOT options ? 'repairOfCheck'
             ORDER BY started_at DESC LIMIT 1
            """).first?.decode((UUID, BackfillRunState, Int).self)
        var unfinished: UUID?
        if let (id, status, workers) = latest, [.running, .failed, .interrupted].contains(status) {
            guard workers == options.workers else { throw BackfillError.workersDiffer(runID: id, started: workers, asked: options.workers) }
            unfinished = id
        }
        let running = try await connection.query("""
            UPDATE backfill_runs r
               SET status = 'RUNNING', finished_at = NULL,
                   error = CASE WHEN r.error IS NULL THEN NULL ELSE 'resumed after: ' || r.error END,
                   heartbeat_at = now(), backend_pid = pg_backend_pid(), client = \(client), throttled = NULL, throttled_since = NULL
             WHERE r.id = \(unfinished)
            RETURNING r.id, r.cursor_key, r.seen, r.migrated, r.unchanged, r.linked, r.already_linked, r.reported,
                      r.sets_linked, r.sets_reported, r.counts_before::text, r.written, coalesce(r.deferred, '{}')
            """)
        let resumable = try running.first.map { row in
            let (id, cursor, seen, migrated, unchanged, linked, alreadyLinked, reported, setsLinked, setsReported, before, written, deferred) =
                try row.decode((UUID, String?, Int, Int, Int, Int, Int, Int, Int, Int, String?, Int, [UUID]).self)
            var counts = BackfillCounts()
            (counts.seen, counts.migrated, counts.unchanged, counts.linked, counts.written) = (seen, migrated, unchanged, linked, written)
            (counts.alreadyLinked, counts.reported, counts.setsLinked, counts.setsReported) = (alreadyLinked, reported, setsLinked, setsReported)
            return BackfillLedger(
                runID: id, resumed: true, cursor: cursor.flatMap(UUID.init(uuidString:)), counts: counts,
                countsBefore: before.flatMap(BackfillAudit.Counts.init(json:)) ?? countsBefore, deferred: deferred)
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
            INSERT INTO backfill_runs (id, kind, flags, options, counts_before, heartbeat_at, backend_pid, client, total, deferred)
            SELECT \(runID), \(kind.rawValue),
                   (SELECT coalesce(jsonb_object_agg(name, jsonb_build_object('enabled', enabled, 'percent', percent)), '{}')
                      FROM runtime_flags),
                   jsonb_build_object('batchSize', \(options.batchSize)::int, 'limit', \(options.limit)::int8, 'user', \(user)::text,
                                      'allowWritesOff', \(options.allowWritesOff), 'workers', \(options.workers)::int)
                   || CASE WHEN \(repairOfCheck)::uuid IS NULL THEN '{}'::jsonb
                           ELSE jsonb_build_object('repairOfCheck', \(repairOfCheck)::uuid) END,
                   \(countsBefore.json)::jsonb, now(), pg_backend_pid(), \(client), \(total), '{}'
            """)
        return BackfillLedger(runID: runID, resumed: false, cursor: nil, counts: BackfillCounts(), countsBefore: countsBefore, deferred: [])
    }

    /// "host pid N": the process running the run, for `backfill status`.
    static var client: String {
        "\(ProcessInfo.processInfo.hostName) pid \(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Adds one batch's counts, moves the cursor (nil: it stays) and stores the rows still
    /// deferred and the batch size; call inside the batch's transaction. Beats the heartbeat.
    /// A worker's batch (`range`: its worker number) moves its range's cursor and deferred
    /// rows instead of the run's. (A single walk never names the ranges' table, so a role
    /// granted before it existed still runs one.)
    func advance(
        by batch: BackfillCounts, to cursor: UUID?, deferred: [UUID], batchSize: Int, range: Int? = nil, on connection: PGConnection
    ) async throws {
        if let range {
            let moved = try await connection.query("""
                UPDATE backfill_run_ranges SET cursor_key = coalesce(\(cursor), cursor_key), deferred = \(deferred)
                 WHERE run_id = \(runID) AND worker = \(range)
                """)
            guard moved.affectedRows == 1 else { throw BackfillError.runTakenOver(runID) }
        }
        let updated = try await connection.query("""
            UPDATE backfill_runs
               SET cursor_key = CASE WHEN \(range)::int IS NULL THEN coalesce(\(cursor?.uuidString.lowercased()), cursor_key) ELSE cursor_key END,
                   deferred = CASE WHEN \(range)::int IS NULL THEN \(deferred) ELSE deferred END,
                   seen = seen + \(batch.seen), batch_size = \(batchSize), heartbeat_at = now(),
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

    /// Shows why the run waits now (nil: it works again) and beats the heartbeat.
    func show(throttled reason: String?, throttledFor: Duration, on connection: PGConnection) async throws {
        try await connection.query("""
            UPDATE backfill_runs
               SET throttled = \(reason), heartbeat_at = now(), throttled_seconds = \(throttledFor.seconds),
                   throttled_since = CASE WHEN \(reason)::text IS NULL THEN NULL ELSE coalesce(throttled_since, now()) END
             WHERE id = \(runID)
            """)
    }

    /// Ends the run and returns the counts as stored.
    func finish(
        status: BackfillRunState, countsAfter: BackfillAudit.Counts?, error: String?, throttledFor: Duration? = nil, on connection: PGConnection
    ) async throws -> BackfillCounts {
        let row = try await connection.query("""
            UPDATE backfill_runs SET status = \(status), finished_at = now(), counts_after = \(countsAfter?.json)::jsonb, error = \(error),
                   heartbeat_at = now(), throttled = NULL, throttled_since = NULL,
                   throttled_seconds = coalesce(\(throttledFor?.seconds)::float8, throttled_seconds)
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
