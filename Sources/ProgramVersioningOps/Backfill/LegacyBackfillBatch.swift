import Foundation
import PostgresDriver
import ProgramDomain
import ProgramVersioning

/// `backfill legacy`, the way back from phase 5, one page of programs by id at a time: each
/// program whose latest version is ahead of its legacy JSON (saved while legacy was
/// read-only, not written back yet) gets that JSON regenerated from the version, or is
/// reported.
///
/// A page is prepared first, outside any transaction and on a connection of its own, while
/// the page before it is written: which programs are behind (the same SQL test the flag
/// store uses, so a re-run ships no JSON), the revision (`xmin`) of each one's legacy row,
/// and its latest version read and written as legacy JSON. Versions never change, so what
/// was prepared for a version stays right. The write is one statement that updates only rows
/// whose revision is still the one read: a row the app rewrote meanwhile (a dual write,
/// which holds its own version) is left alone, and a phase-5 save meanwhile (which only
/// locks the row) leaves legacy one version behind again, which the flag store sees and
/// the next run, or `--flag-off`'s last step, catches. No row is locked while a page is
/// prepared.
///
/// The JSON is the version's own program in the legacy shape (unknown keys from `extra`,
/// the schedule back to `workoutIndex` positions). The program its rows hold is checked
/// against the version's content checksum (rows changed behind the library's back are
/// reported, not written); the encoder's output decodes to exactly the program it was given
/// (a property test holds it to that over thousands of programs). Each written row is
/// recorded in `legacy_syncs` with the version and the `xmin` the write gave the row: the
/// evidence the flag store trusts.
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
        var behind: [Behind] = []
        /// The legacy JSON (or why there is none) of each version the page needs, by version id.
        var prepared: [UUID: Result<Prepared, Problem>] = [:]
    }

    /// A program whose legacy JSON does not hold its latest version.
    struct Behind: Sendable {
        var programID: UUID
        /// The legacy row's revision when the page was read.
        var legacyRevision: String
        var versionID: UUID
        var contentChecksum: String
        var savedAt: Date
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

    /// Lists the page after `cursor`: which programs it holds and which are behind (nothing
    /// prepared yet; see `prepare`).
    func list(after cursor: UUID?, pageSize: Int, on connection: PGConnection) async throws -> Page {
        try await list(after: cursor, pageSize: pageSize, listed: nil, on: connection)
    }

    /// Programs a batch deferred because another transaction held them, whatever their keys.
    func list(_ ids: [UUID], on connection: PGConnection) async throws -> Page {
        var page = try await list(after: nil, pageSize: 0, listed: ids, on: connection)
        page.lastKey = nil
        return page
    }

    private func list(after cursor: UUID?, pageSize: Int, listed: [UUID]?, on connection: PGConnection) async throws -> Page {
        let rows = try await connection.query("""
            SELECT p.id, p.xmin::text, CASE WHEN s.program_id IS NULL THEN v.id END, v.content_checksum, v.created_at
              FROM ((SELECT id FROM programs
                      WHERE \(listed)::uuid[] IS NULL
                        AND (\(cursor)::uuid IS NULL OR id > \(cursor)) AND (\(userID)::uuid IS NULL OR user_id = \(userID))
                      ORDER BY id LIMIT \(pageSize))
                    UNION ALL
                    (SELECT id FROM programs WHERE id = ANY(\(listed)::uuid[]))) k
              JOIN programs p ON p.id = k.id
              LEFT JOIN LATERAL (SELECT id, content_checksum, created_at, written_to_legacy FROM program_versions
                                  WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON NOT v.written_to_legacy
              LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
             ORDER BY p.id
            """)
        return try Self.page(rows)
    }

    /// The page with the JSON of every version it needs.
    func prepare(_ listed: Page, on connection: PGConnection) async throws -> Page {
        var page = listed
        page.prepared = try await Self.prepare(page.behind, on: connection)
        return page
    }

    /// The programs whose legacy is behind at this moment, whatever their keys, prepared
    /// (the last step of `--flag-off`, under the exclusive phase lock: no save can add one meanwhile).
    func readBehindNow(on connection: PGConnection) async throws -> Page {
        let rows = try await connection.query("""
            SELECT p.id, p.xmin::text, v.id, v.content_checksum, v.created_at
              FROM program_versioning_legacy_behind() b
              JOIN programs p ON p.id = b.program_id
              JOIN program_versions v ON v.program_id = b.program_id AND v.id = b.program_version_id
             ORDER BY p.id
            """)
        var page = try Self.page(rows)
        page.prepared = try await Self.prepare(page.behind, on: connection)
        return page
    }

    private static func page(_ rows: PGResult) throws -> Page {
        var page = Page()
        for row in rows {
            let (id, revision, versionID, checksum, savedAt) = try row.decode((UUID, String, UUID?, String?, Date?).self)
            page.scanned += 1
            page.lastKey = id
            if let versionID, let checksum, let savedAt {
                page.behind.append(Behind(programID: id, legacyRevision: revision, versionID: versionID, contentChecksum: checksum, savedAt: savedAt))
            } else {
                page.unchanged += 1
            }
        }
        return page
    }

    /// Writes a prepared page back in the caller's transaction: the JSON of each behind
    /// program whose legacy row is still the revision the page read (or a report).
    func write(_ page: Page, on connection: PGConnection) async throws -> BackfillBatchOutcome {
        var outcome = BackfillBatchOutcome()
        outcome.scanned = page.scanned
        outcome.lastKey = page.lastKey
        outcome.counts.seen = page.scanned
        outcome.counts.unchanged = page.unchanged
        var programIDs: [UUID] = [], revisions: [String] = [], versionIDs: [UUID] = [], documents: [String] = [], savedAt: [Int] = []
        for entry in page.behind {
            switch Self.checked(page.prepared[entry.versionID], against: entry.contentChecksum) {
            case .success(let json):
                programIDs.append(entry.programID)
                revisions.append(entry.legacyRevision)
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
        let (written, deferred) = dryRun
            ? (programIDs.count, [])
            : try await writeJSON(programIDs, revisions, versionIDs, documents, savedAt, on: connection)
        outcome.deferred = deferred
        outcome.counts.seen -= deferred.count
        outcome.counts.written = written
        outcome.counts.unchanged += programIDs.count - written - deferred.count  // rewritten meanwhile by a dual write
        if !dryRun { try await BackfillReport.store(outcome.reports, runID: runID, on: connection) }
        return outcome
    }

    /// The legacy JSON of each version, read in one query (see `VersionContent`), with the
    /// checksum of what its rows hold, for `checked` to compare with the version's own.
    static func prepare(_ behind: [Behind], on connection: PGConnection) async throws -> [UUID: Result<Prepared, Problem>] {
        guard !behind.isEmpty else { return [:] }
        let versionIDs = behind.map(\.versionID)
        let contents = try await VersionContent.load(versionIDs: versionIDs, of: behind.map(\.programID), on: connection)
        var prepared: [UUID: Result<Prepared, Problem>] = [:]
        prepared.reserveCapacity(versionIDs.count)
        for versionID in versionIDs {
            prepared[versionID] = legacyJSON(of: contents[versionID])
        }
        return prepared
    }

    /// A version's program as legacy JSON.
    private static func legacyJSON(of content: Result<Program, UnreadableVersion>?) -> Result<Prepared, Problem> {
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

    /// One statement: the rows no other transaction holds are locked (`SKIP LOCKED`: the
    /// others are deferred, never waited for), the JSON documents go in as a binary text
    /// array, the UPDATE parses and writes those whose row is still at the revision read,
    /// and each written row's new `xmin` lands in `legacy_syncs`. Returns how many were
    /// written and which were deferred.
    private func writeJSON(
        _ programIDs: [UUID], _ revisions: [String], _ versionIDs: [UUID], _ documents: [String], _ savedAt: [Int],
        on connection: PGConnection
    ) async throws -> (written: Int, deferred: [UUID]) {
        guard !programIDs.isEmpty else { return (0, []) }
        try await connection.query(LegacyWriterLock.markWriter())
        let row = try await connection.query("""
            WITH locked AS (
              SELECT id FROM programs WHERE id = ANY(\(programIDs)::uuid[]) ORDER BY id FOR UPDATE SKIP LOCKED
            ), written AS (
              UPDATE programs p
                 SET program_json = w.legacy_json::jsonb,
                     updated_at = timestamptz 'epoch' + w.saved_micros * interval '1 microsecond'
                FROM unnest(\(programIDs)::uuid[], \(revisions)::text[], \(versionIDs)::uuid[], \(documents)::text[],
                            \(savedAt)::int8[]) AS w(program_id, revision, program_version_id, legacy_json, saved_micros)
               WHERE p.id = w.program_id AND p.xmin::text = w.revision AND p.id IN (SELECT id FROM locked)
              RETURNING p.id, p.xmin::text AS legacy_xmin, w.program_version_id
            ), synced AS (
              INSERT INTO legacy_syncs (program_id, program_version_id, legacy_xmin, run_id)
              SELECT id, program_version_id, legacy_xmin, \(runID) FROM written
              ON CONFLICT (program_id) DO UPDATE
                 SET program_version_id = excluded.program_version_id, legacy_xmin = excluded.legacy_xmin,
                     run_id = excluded.run_id, synced_at = now()
              RETURNING 1
            )
            SELECT (SELECT count(*) FROM synced),
                   (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM unnest(\(programIDs)::uuid[]) AS x(id)
                     WHERE id NOT IN (SELECT id FROM locked))
            """).single()
        let (written, deferred) = try row.decode((Int, [UUID]).self)
        return (written, deferred)
    }
}
