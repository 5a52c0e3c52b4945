import Foundation
import PostgresDriver
import ProgramDomain

/// `backfill legacy`, the way back from phase 5, one page of programs by id at a time: each
/// program whose latest version is ahead of its legacy JSON (saved while legacy was
/// read-only, not written back yet) gets that JSON regenerated from the version, or is
/// reported.
///
/// A page is prepared first, outside any transaction and on a connection of its own, while
/// the page before it is written: which programs are behind (the same SQL test the flag
/// store uses, so a re-run ships no JSON), their latest versions read and written as legacy
/// JSON. Versions never change, so what was prepared for a version id stays right. The write
/// then locks the page's behind programs in key order and reads again which version each
/// must hold: a save or another write-back committed meanwhile is seen, and a version that
/// appeared since the page was prepared is read there and then.
///
/// The JSON is the version's own program in the legacy shape (unknown keys from `extra`,
/// the schedule back to `workoutIndex` positions). The program its rows hold is checked
/// against the version's content checksum (rows changed behind the library's back are
/// reported, not written); the encoder's output decodes to exactly the program it was given
/// (a property test holds it to that over thousands of programs). Each written row is recorded in `legacy_syncs` with the `xmin` the
/// write gave it: the evidence the flag store trusts.
struct LegacyBackfillBatch {
    var runID: UUID
    var dryRun: Bool
    var userID: UUID?

    /// A page read and prepared, not yet written.
    struct Page: Sendable {
        var scanned = 0
        var lastKey: UUID?
        var unchanged = 0
        /// Programs whose legacy JSON was behind when the page was read, in key order.
        var behind: [UUID] = []
        /// The legacy JSON (or why there is none) of each version the page needs, by version id.
        var prepared: [UUID: Result<Prepared, Problem>] = [:]
    }

    /// A version's program written as legacy JSON, and the canonical checksum of the
    /// program the version's rows hold.
    struct Prepared: Sendable {
        var json: String
        var rowsChecksum: String
    }

    /// Why a version cannot be written back.
    struct Problem: Error, Sendable {
        var reason: String
        var detail: String
    }

    /// Reads the page after `cursor` and prepares the JSON of every version it needs.
    func read(after cursor: UUID?, pageSize: Int, on connection: PostgresConnection) async throws -> Page {
        let rows = try await connection.query("""
            SELECT p.id, CASE WHEN NOT v.written_to_legacy AND s.program_id IS NULL THEN v.id END
              FROM programs p
              LEFT JOIN LATERAL (SELECT id, written_to_legacy FROM program_versions
                                  WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
              LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
             WHERE (\(cursor)::uuid IS NULL OR p.id > \(cursor)) AND (\(userID)::uuid IS NULL OR p.user_id = \(userID))
             ORDER BY p.id
             LIMIT \(pageSize)
            """)
        var page = Page()
        var versions: [UUID] = []
        for row in rows {
            let (id, behindVersion) = try row.decode((UUID, UUID?).self)
            page.scanned += 1
            page.lastKey = id
            if let behindVersion {
                page.behind.append(id)
                versions.append(behindVersion)
            } else {
                page.unchanged += 1
            }
        }
        page.prepared = try await Self.prepare(versions, on: connection)
        return page
    }

    /// The programs whose legacy is behind at this moment, whatever their keys (the last
    /// step of `--flag-off`, under the exclusive phase lock: no save can add one meanwhile).
    func readBehindNow(on connection: PostgresConnection) async throws -> Page {
        var page = Page()
        page.behind = try await connection.query("SELECT program_id FROM program_versioning_legacy_behind() ORDER BY program_id")
            .map { try $0.decode(UUID.self, at: 0) }
        page.scanned = page.behind.count
        page.lastKey = page.behind.last
        return page
    }

    /// Writes a page back in the caller's transaction: locks its behind programs, reads
    /// again which version each must hold, and writes the JSON of each still behind (or
    /// reports it).
    func write(_ page: Page, on connection: PostgresConnection) async throws -> BackfillBatchOutcome {
        var outcome = BackfillBatchOutcome()
        outcome.scanned = page.scanned
        outcome.lastKey = page.lastKey
        outcome.counts.seen = page.scanned
        outcome.counts.unchanged = page.unchanged
        guard !page.behind.isEmpty else { return outcome }
        try await connection.query("SELECT set_config('jit', 'off', true)")
        if !dryRun {
            try await connection.query("SELECT 1 FROM programs WHERE id = ANY(\(page.behind)) ORDER BY id FOR UPDATE")
        }
        // A new statement: its snapshot includes every save and write-back that committed
        // before the lock.
        let rows = try await connection.query("""
            SELECT p.id, v.id, v.content_checksum, v.created_at
              FROM programs p
              JOIN LATERAL (SELECT id, content_checksum, created_at, written_to_legacy FROM program_versions
                             WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
              LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
             WHERE p.id = ANY(\(page.behind)) AND NOT v.written_to_legacy AND s.program_id IS NULL
             ORDER BY p.id
            """)
        var behind: [(programID: UUID, versionID: UUID, checksum: String, savedAt: Date)] = []
        for row in rows {
            let (programID, versionID, checksum, savedAt) = try row.decode((UUID, UUID, String, Date).self)
            behind.append((programID, versionID, checksum, savedAt))
        }
        outcome.counts.unchanged += page.behind.count - behind.count  // written meanwhile by a save or another run
        var prepared = page.prepared
        let missing = behind.map(\.versionID).filter { prepared[$0] == nil }
        if !missing.isEmpty {
            prepared.merge(try await Self.prepare(missing, on: connection)) { old, _ in old }
        }

        var programIDs: [UUID] = [], versionIDs: [UUID] = [], documents: [String] = [], savedAt: [Int] = []
        for entry in behind {
            switch Self.checked(prepared[entry.versionID], against: entry.checksum) {
            case .success(let json):
                outcome.counts.written += 1
                programIDs.append(entry.programID)
                versionIDs.append(entry.versionID)
                documents.append(json)
                // The row's updated_at becomes the edit's time: as if the save had written it then.
                savedAt.append(Int((entry.savedAt.timeIntervalSince1970 * 1_000_000).rounded()))
            case .failure(let problem):
                outcome.counts.reported += 1
                outcome.reports.append(BackfillReport(
                    programID: entry.programID, sessionID: nil, loggedSetID: nil, reason: problem.reason, path: nil,
                    detail: "version \(entry.versionID.uuidString.lowercased()): \(problem.detail)"))
            }
        }
        if !dryRun {
            try await writeJSON(programIDs, versionIDs, documents, savedAt, on: connection)
            try await store(outcome.reports, on: connection)
        }
        return outcome
    }

    /// The legacy JSON of each version, read in one query (see `VersionContent`), with the
    /// checksum of what its rows hold, for `checked` to compare with the version's own.
    static func prepare(_ versionIDs: [UUID], on connection: PostgresConnection) async throws -> [UUID: Result<Prepared, Problem>] {
        guard !versionIDs.isEmpty else { return [:] }
        let contents = try await VersionContent.load(versionIDs: versionIDs, on: connection)
        var prepared: [UUID: Result<Prepared, Problem>] = [:]
        prepared.reserveCapacity(versionIDs.count)
        for versionID in versionIDs {
            prepared[versionID] = legacyJSON(of: contents[versionID])
        }
        return prepared
    }

    /// A version's program as legacy JSON.
    private static func legacyJSON(of content: Result<Program, PostgresError>?) -> Result<Prepared, Problem> {
        switch content {
        case .success(let program)?:
            return .success(Prepared(json: program.legacyJSONText, rowsChecksum: program.canonicalChecksum))
        case .failure(let error)?:
            return .failure(Problem(
                reason: "VERSION_UNREADABLE", detail: "\(error.message); the version rows are damaged: run check, which names them"))
        case nil:
            return .failure(Problem(reason: "VERSION_UNREADABLE", detail: "the version has no rows; run check, which names it"))
        }
    }

    /// The JSON prepared for a version, if the version's rows hold what its checksum says.
    private static func checked(_ prepared: Result<Prepared, Problem>?, against checksum: String) -> Result<String, Problem> {
        switch prepared {
        case .success(let prepared)?:
            guard prepared.rowsChecksum == checksum else {
                return .failure(Problem(
                    reason: "VERSION_ROWS_CHANGED",
                    detail: "its rows hold other content than its checksum \(checksum) says (changed behind the library's back); "
                        + "nothing was written for this program: run check, which shows the fields"))
            }
            return .success(prepared.json)
        case .failure(let problem)?:
            return .failure(problem)
        case nil:
            return .failure(Problem(reason: "VERSION_UNREADABLE", detail: "the version was not read; please report this bug"))
        }
    }

    /// One statement: the JSON documents go in as a binary text array, the UPDATE parses and
    /// writes them, and each written row's new `xmin` lands in `legacy_syncs`.
    private func writeJSON(
        _ programIDs: [UUID], _ versionIDs: [UUID], _ documents: [String], _ savedAt: [Int], on connection: PostgresConnection
    ) async throws {
        guard !programIDs.isEmpty else { return }
        try await connection.query(LegacyWriterLock.markWriter())
        let written = try await connection.query("""
            WITH written AS (
              UPDATE programs p
                 SET program_json = w.legacy_json::jsonb,
                     updated_at = timestamptz 'epoch' + w.saved_micros * interval '1 microsecond'
                FROM unnest(\(programIDs)::uuid[], \(versionIDs)::uuid[], \(documents)::text[], \(savedAt)::int8[])
                       AS w(program_id, program_version_id, legacy_json, saved_micros)
               WHERE p.id = w.program_id
              RETURNING p.id, p.xmin::text AS legacy_xmin, w.program_version_id
            )
            INSERT INTO legacy_syncs (program_id, program_version_id, legacy_xmin, run_id)
            SELECT id, program_version_id, legacy_xmin, \(runID) FROM written
            ON CONFLICT (program_id) DO UPDATE
               SET program_version_id = excluded.program_version_id, legacy_xmin = excluded.legacy_xmin,
                   run_id = excluded.run_id, synced_at = now()
            """)
        guard written.affectedRows == programIDs.count else {
            throw PostgresError(
                code: .server,
                message: "backfill legacy wrote \(written.affectedRows) of \(programIDs.count) programs of a batch; the batch was rolled back")
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
