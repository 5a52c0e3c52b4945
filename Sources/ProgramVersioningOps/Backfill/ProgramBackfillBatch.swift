import Foundation
import PostgresDriver
import ProgramDomain

/// One batch of `backfill programs`: the next page of programs by id, each given its next
/// version unless its current version already holds it, or reported.
///
/// "Unchanged" is decided in SQL first (the latest version was written from this very row
/// revision: `legacy_xmin = xmin`, or a row rewritten with the same content was recorded as
/// holding it in `legacy_syncs`), so a re-run over migrated data ships no JSON. Only the
/// other rows are locked (`FOR UPDATE SKIP LOCKED`, in key order) and read again after the
/// lock, so a save the app commits meanwhile is seen: its version is not duplicated, and no
/// version is written from a row revision that is already old. A row another transaction
/// holds is not waited for but deferred (the run comes back for it). New versions go in
/// with COPY.
struct ProgramBackfillBatch {
    var runID: UUID
    var dryRun: Bool
    var userID: UUID?

    /// The next page after `cursor` (nil: from the start of `range`), within `range`.
    func run(after cursor: UUID?, within range: KeyRange = .all, pageSize: Int, on connection: PGConnection) async throws -> BackfillBatchOutcome {
        var outcome = BackfillBatchOutcome()
        let page = try await connection.query("""
            SELECT p.id, v.legacy_xmin = p.xmin::text OR s.legacy_xmin = p.xmin::text
              FROM programs p
              LEFT JOIN LATERAL (SELECT id, legacy_xmin FROM program_versions
                                  WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
              LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
             WHERE (\(cursor)::uuid IS NULL OR p.id > \(cursor)) AND (\(userID)::uuid IS NULL OR p.user_id = \(userID))
               AND (\(range.start)::uuid IS NULL OR p.id >= \(range.start)) AND (\(range.end)::uuid IS NULL OR p.id < \(range.end))
             ORDER BY p.id
             LIMIT \(pageSize)
            """)
        var candidates: [UUID] = []
        for row in page {
            let (id, fresh) = try row.decode((UUID, Bool?).self)
            outcome.scanned += 1
            outcome.lastKey = id
            if fresh == true { outcome.counts.unchanged += 1 } else { candidates.append(id) }
        }
        outcome.counts.seen = outcome.counts.unchanged
        try await migrate(candidates, into: &outcome, on: connection)
        return outcome
    }

    /// The programs a check named (`check --repair`), whatever their keys: each is given
    /// its next version from its legacy JSON, or reported, as in any batch.
    func run(listed ids: ArraySlice<UUID>, on connection: PGConnection) async throws -> BackfillBatchOutcome {
        var outcome = BackfillBatchOutcome()
        outcome.scanned = ids.count
        try await migrate(Array(ids), into: &outcome, on: connection)
        return outcome
    }

    /// Locks `candidates`, reads them again and writes the next version of each that needs
    /// one (or reports it).
    private func migrate(_ listed: [UUID], into outcome: inout BackfillBatchOutcome, on connection: PGConnection) async throws {
        guard !listed.isEmpty else { return }
        var candidates = listed
        if !dryRun {
            // Only rows no other transaction holds: the batch never waits on the app (nor
            // makes the app wait behind a row it waits for); the rest are deferred.
            candidates = try await connection.query("""
                SELECT id FROM programs WHERE id = ANY(\(listed)) ORDER BY id FOR UPDATE SKIP LOCKED
                """).map { try $0.decode(UUID.self, at: 0) }
            if candidates.count < listed.count {
                let locked = Set(candidates)
                // Those still there (a deleted program is simply gone).
                outcome.deferred += try await connection.query("""
                    SELECT id FROM programs WHERE id = ANY(\(listed.filter { !locked.contains($0) })) ORDER BY id
                    """).map { try $0.decode(UUID.self, at: 0) }
            }
            guard !candidates.isEmpty else { return }
        }
        // A new statement: its snapshot includes every save that committed before the lock.
        let rows = try await connection.query("""
            SELECT p.id, p.xmin::text,
                   CASE WHEN v.legacy_xmin = p.xmin::text OR s.legacy_xmin = p.xmin::text THEN NULL ELSE p.program_json END,
                   v.version, v.source_checksum, v.id
              FROM programs p
              LEFT JOIN LATERAL (SELECT id, version, source_checksum, legacy_xmin FROM program_versions
                                  WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
              LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
             WHERE p.id = ANY(\(candidates))
             ORDER BY p.id
            """)
        var pending: [PendingVersion] = []
        pending.reserveCapacity(rows.count)
        var sameContent: [(programID: UUID, versionID: UUID, revision: String)] = []
        for row in rows {
            let (id, revision, json, latestVersion, latestChecksum, latestID) =
                try row.decode((UUID, String, PGJSONB?, Int32?, String?, UUID?).self)
            outcome.counts.seen += 1
            guard let json else {
                outcome.counts.unchanged += 1  // a save wrote its version meanwhile
                continue
            }
            switch Self.classify(json.bytes) {
            case .program(let program, let checksum):
                if checksum == latestChecksum, let latestID {
                    // The row was rewritten with the same content: its version still holds it,
                    // which the row's new revision is recorded for (the flag store checks it).
                    outcome.counts.unchanged += 1
                    sameContent.append((id, latestID, revision))
                } else {
                    outcome.counts.migrated += 1
                    pending.append(PendingVersion(
                        programID: id, version: Int(latestVersion ?? 0) + 1, program: program, checksum: checksum, legacyRevision: revision))
                }
            case .problems(let problems):
                outcome.counts.reported += 1
                outcome.reports += problems.map {
                    BackfillReport(programID: id, sessionID: nil, loggedSetID: nil, reason: $0.reason, path: $0.path, detail: $0.detail)
                }
            }
        }
        if !dryRun {
            try await VersionCopy(pending).write(on: connection)
            if !sameContent.isEmpty {
                try await connection.query("""
                    INSERT INTO legacy_syncs (program_id, program_version_id, legacy_xmin, run_id)
                    SELECT u.program_id, u.version_id, u.revision, \(runID)
                      FROM unnest(\(sameContent.map(\.programID))::uuid[], \(sameContent.map(\.versionID))::uuid[],
                                  \(sameContent.map(\.revision))::text[]) AS u(program_id, version_id, revision)
                    ON CONFLICT (program_id) DO UPDATE
                       SET program_version_id = excluded.program_version_id, legacy_xmin = excluded.legacy_xmin,
                           run_id = excluded.run_id, synced_at = now()
                    """)
            }
            try await BackfillReport.store(outcome.reports, runID: runID, on: connection)
        }
    }

    enum Classification {
        case program(Program, checksum: String)
        case problems([(reason: String, path: String, detail: String)])
    }

    /// Decodes and validates legacy JSON exactly as a save would (ids generated for id-less
    /// programs by the fixed rule); what cannot be migrated safely is described, not repaired.
    static func classify(_ json: [UInt8]) -> Classification {
        switch LegacyReading(legacyJSON: json) {
        case .valid(let program):
            return .program(program, checksum: program.canonicalChecksum)
        case .unreadable(let error):
            return .problems(error.problems.map {
                ("UNREADABLE_JSON", $0.path.description, "\($0.path) \($0.reason); fix the legacy JSON, then run the backfill again")
            })
        case .invalid(_, let violations):
            return .problems(violations.map {
                ($0.rule.rawValue, $0.path.description, "\($0.message) The program stays legacy-only until its JSON is fixed; then run the backfill again.")
            })
        }
    }
}
