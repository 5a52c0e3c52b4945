import Foundation
import PostgresDriver
import ProgramDomain

/// One batch of `backfill legacy`, the way back from phase 5: the next page of programs by
/// id; each whose latest version is ahead of its legacy JSON (saved while legacy was
/// read-only, not written back yet) gets that JSON regenerated from the version, or is
/// reported.
///
/// "Unchanged" is decided in SQL first (the same test the flag store uses), so a re-run
/// ships no JSON. The other rows are locked in key order and read again after the lock, so
/// a save or another write-back committed meanwhile is seen. The JSON is the version's own
/// program written in the legacy shape (unknown keys from `extra`, the schedule back to
/// `workoutIndex` positions) and is checked to decode to exactly the version's canonical
/// content before it is written. Each written row is recorded in `legacy_syncs` with the
/// `xmin` the write gave it: the evidence the flag store trusts.
struct LegacyBackfillBatch {
    var runID: UUID
    var dryRun: Bool
    var userID: UUID?

    func run(after cursor: UUID?, pageSize: Int, on connection: PostgresConnection) async throws -> BackfillBatchOutcome {
        var outcome = BackfillBatchOutcome()
        let page = try await connection.query("""
            SELECT p.id, v.id IS NOT NULL AND NOT v.written_to_legacy AND s.program_id IS NULL
              FROM programs p
              LEFT JOIN LATERAL (SELECT id, written_to_legacy FROM program_versions
                                  WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
              LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
             WHERE (\(cursor)::uuid IS NULL OR p.id > \(cursor)) AND (\(userID)::uuid IS NULL OR p.user_id = \(userID))
             ORDER BY p.id
             LIMIT \(pageSize)
            """)
        var candidates: [UUID] = []
        for row in page {
            let (id, behind) = try row.decode((UUID, Bool).self)
            outcome.scanned += 1
            outcome.lastKey = id
            if behind { candidates.append(id) } else { outcome.counts.unchanged += 1 }
        }
        outcome.counts.seen = outcome.counts.unchanged
        try await writeBack(candidates, into: &outcome, on: connection)
        return outcome
    }

    /// The programs whose legacy is behind at this moment, whatever their keys (the last
    /// step of `--flag-off`, under the exclusive phase lock: no save can add one meanwhile).
    func runBehindNow(on connection: PostgresConnection) async throws -> BackfillBatchOutcome {
        var outcome = BackfillBatchOutcome()
        let ids = try await connection.query("SELECT program_id FROM program_versioning_legacy_behind() ORDER BY program_id")
            .map { try $0.decode(UUID.self, at: 0) }
        outcome.scanned = ids.count
        outcome.lastKey = ids.last
        try await writeBack(ids, into: &outcome, on: connection)
        return outcome
    }

    /// Locks `candidates`, reads them again and writes back the legacy JSON of each whose
    /// latest version legacy still does not hold (or reports it).
    private func writeBack(_ candidates: [UUID], into outcome: inout BackfillBatchOutcome, on connection: PostgresConnection) async throws {
        guard !candidates.isEmpty else { return }
        if !dryRun {
            try await connection.query("SELECT 1 FROM programs WHERE id = ANY(\(candidates)) ORDER BY id FOR UPDATE")
        }
        // A new statement: its snapshot includes every save and write-back that committed
        // before the lock.
        let rows = try await connection.query("""
            SELECT p.id, v.id, v.content_checksum, v.created_at
              FROM programs p
              JOIN LATERAL (SELECT id, content_checksum, created_at, written_to_legacy FROM program_versions
                             WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
              LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
             WHERE p.id = ANY(\(candidates)) AND NOT v.written_to_legacy AND s.program_id IS NULL
            """)
        var behind: [(programID: UUID, versionID: UUID, checksum: String, savedAt: Date)] = []
        for row in rows {
            let (programID, versionID, checksum, savedAt) = try row.decode((UUID, UUID, String, Date).self)
            behind.append((programID, versionID, checksum, savedAt))
        }
        outcome.counts.seen += candidates.count
        outcome.counts.unchanged += candidates.count - behind.count  // written meanwhile by a save or another run
        let contents = try await VersionContent.load(versionIDs: behind.map(\.versionID), on: connection)

        var writes: [[String?]] = []
        writes.reserveCapacity(behind.count)
        for entry in behind {
            switch Self.legacyJSON(of: contents[entry.versionID], checksum: entry.checksum) {
            case .success(let json):
                outcome.counts.written += 1
                // The row's updated_at becomes the edit's time: as if the save had written it then.
                let micros = Int64((entry.savedAt.timeIntervalSince1970 * 1_000_000).rounded())
                writes.append([entry.programID.uuidString, entry.versionID.uuidString, json, String(micros)])
            case .failure(let problem):
                outcome.counts.reported += 1
                outcome.reports.append(BackfillReport(
                    programID: entry.programID, sessionID: nil, loggedSetID: nil, reason: problem.reason, path: nil,
                    detail: "version \(entry.versionID.uuidString.lowercased()): \(problem.detail)"))
            }
        }
        if !dryRun {
            try await write(writes, on: connection)
            try await store(outcome.reports, on: connection)
        }
    }

    /// Why a version cannot be written back.
    struct Problem: Error {
        var reason: String
        var detail: String
    }

    /// The legacy JSON of a version's program, checked to decode to exactly the content the
    /// version holds (its canonical checksum).
    static func legacyJSON(of content: Result<Program, PostgresError>?, checksum: String) -> Result<String, Problem> {
        let program: Program
        switch content {
        case .success(let loaded)?:
            program = loaded
        case .failure(let error)?:
            return .failure(Problem(
                reason: "VERSION_UNREADABLE", detail: "\(error.message); the version rows are damaged: run check, which names them"))
        case nil:
            return .failure(Problem(reason: "VERSION_UNREADABLE", detail: "the version has no rows; run check, which names it"))
        }
        let json = program.legacyJSONText
        guard case .valid(let decoded) = LegacyReading(legacyJSON: Array(json.utf8)), decoded.canonicalChecksum == checksum else {
            return .failure(Problem(
                reason: "LEGACY_JSON_MISMATCH",
                detail: "the legacy JSON written from it would not decode to the version's content (checksum \(checksum)); "
                    + "nothing was written for this program; please report this bug"))
        }
        return .success(json)
    }

    /// The JSON goes in with COPY (a text array would make the server unescape every quote)
    /// to a temporary table, then one UPDATE writes it and one upsert records each row's new
    /// `xmin` in `legacy_syncs`.
    private func write(_ rows: [[String?]], on connection: PostgresConnection) async throws {
        guard !rows.isEmpty else { return }
        try await connection.query(LegacyWriterLock.markWriter())
        try await connection.query("""
            CREATE TEMPORARY TABLE IF NOT EXISTS pv_legacy_writeback
              (program_id uuid NOT NULL, program_version_id uuid NOT NULL, legacy_json jsonb NOT NULL, saved_at_micros bigint NOT NULL)
              ON COMMIT DELETE ROWS
            """)
        try await connection.copyFrom("COPY pv_legacy_writeback (program_id, program_version_id, legacy_json, saved_at_micros) FROM STDIN") { writer in
            for row in rows { try await writer.write(row: row) }
        }
        let written = try await connection.query("""
            WITH written AS (
              UPDATE programs p SET program_json = w.legacy_json, updated_at = timestamptz 'epoch' + w.saved_at_micros * interval '1 microsecond'
                FROM pv_legacy_writeback w
               WHERE p.id = w.program_id
              RETURNING p.id, p.xmin::text AS legacy_xmin, w.program_version_id
            )
            INSERT INTO legacy_syncs (program_id, program_version_id, legacy_xmin, run_id)
            SELECT id, program_version_id, legacy_xmin, \(runID) FROM written
            ON CONFLICT (program_id) DO UPDATE
               SET program_version_id = excluded.program_version_id, legacy_xmin = excluded.legacy_xmin,
                   run_id = excluded.run_id, synced_at = now()
            """)
        guard written.affectedRows == rows.count else {
            throw PostgresError(
                code: .server,
                message: "backfill legacy wrote \(written.affectedRows) of \(rows.count) programs of a batch; the batch was rolled back")
        }
    }

    private func store(_ reports: [BackfillReport], on connection: PostgresConnection) async throws {
        guard !reports.isEmpty else { return }
        try await connection.query("""
            INSERT INTO backfill_reports (run_id, program_id, reason, path, detail)
            SELECT \(runID), r.program_id, r.reason, r.path, r.detail
              FROM unnest(\(reports.map { $0.programID })::uuid[], \(reports.map(\.reason))::text[],
                          \(reports.map(\.path))::text[], \(reports.map(\.detail))::text[]) AS r(program_id, reason, path, detail)
            """)
    }
}
