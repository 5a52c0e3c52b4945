import Foundation
import PostgresDriver

/// A program's legacy row and its newest version, and which of the two holds the program
/// as it is now: what reads, saves and session starts decide on, in one indexed query.
///
/// The legacy JSON travels only when asked and only when the version cannot stand for it:
/// phase 5 never needs it, and after `legacy retire` the column is not there.
struct ProgramHead: Sendable {
    var userID: UUID
    /// The legacy row's `xmin`: changes with every write of the row, by anyone.
    var legacyRevision: String
    var latest: Latest?
    /// The legacy JSON holds the latest version: written with it (a dual write, a backfill)
    /// or written back from it (`backfill legacy`), and the row is unchanged since.
    var legacyHoldsLatest: Bool
    /// The latest version was saved while legacy was read-only and not written back yet.
    var latestAheadOfLegacy: Bool
    /// PROGRAM_VERSIONING_LEGACY_READONLY as the database has it when the query ran.
    var legacyReadOnly: Bool
    /// The legacy JSON, when the query was asked for it and the version does not stand for it.
    var legacyJSON: PGJSONB?

    struct Latest: Sendable {
        var id: UUID
        var version: Int
        var checksum: String
    }

    /// Whether the latest version is the program as it is now. In phase 5 the versions are
    /// the source of truth whatever happened to the legacy row (a write of another column
    /// changes its `xmin` too).
    var versionIsCurrent: Bool {
        latest != nil && (legacyHoldsLatest || latestAheadOfLegacy || legacyReadOnly)
    }

    /// What `save` compares: the legacy row's revision, and the version number while the
    /// latest version is one legacy does not hold (phase-5 saves leave the row untouched).
    /// A backfill that only adds versions changes neither part, so it never makes an app's
    /// edit conflict.
    var revision: Revision {
        guard latestAheadOfLegacy, let latest else { return Revision(legacyRevision) }
        return Revision("\(legacyRevision)/v\(latest.version)")
    }

    /// How the head is read.
    enum Reading {
        /// No lock, no legacy JSON: the versioned read and the save.
        case plain
        /// Also the legacy JSON unless a version is ahead of it or legacy is read-only (the
        /// legacy read, which must never serve what phase 5 left behind).
        case withLegacyJSON
        /// `FOR SHARE` of the legacy row, for the program's owner only (a session start:
        /// a save cannot change the program until the session is in).
        case sharedForOwner(UUID)
    }

    /// The head of `programID`, nil when there is no such program (or, `sharedForOwner`, it
    /// belongs to someone else).
    static func load(_ programID: UUID, _ reading: Reading = .plain, on connection: PGConnection) async throws -> ProgramHead? {
        let rows: PGResult
        switch reading {
        case .plain:
            rows = try await connection.query(query(programID).prepared(as: "pv_program_head"))
        case .withLegacyJSON:
            rows = try await connection.query(queryWithLegacyJSON(programID))
        case .sharedForOwner(let userID):
            rows = try await connection.query(querySharedForOwner(programID, userID: userID))
        }
        guard let row = rows.first else { return nil }
        let (userID, xmin, versionID, version, checksum, holds, ahead, readOnly) =
            try row.decode((UUID, String, UUID?, Int32?, String?, Bool?, Bool?, Bool?).self)
        var head = ProgramHead(
            userID: userID, legacyRevision: xmin, latest: nil, legacyHoldsLatest: holds == true,
            latestAheadOfLegacy: ahead == true, legacyReadOnly: readOnly == true, legacyJSON: nil)
        if let versionID, let version, let checksum {
            head.latest = Latest(id: versionID, version: Int(version), checksum: checksum)
        }
        if case .withLegacyJSON = reading { head.legacyJSON = try row.decode(PGJSONB?.self, at: 8) }
        return head
    }

    /// The legacy JSON of a program whose version cannot stand for it (a separate statement:
    /// only phases 1-4 ever send it).
    static func legacyJSON(of programID: UUID, on connection: PGConnection) async throws -> PGJSONB? {
        try await connection.query("SELECT program_json FROM programs WHERE id = \(programID)").first?.decode(PGJSONB.self, at: 0)
    }

    // The three statements differ only in their last lines; each is written out whole so a
    // reader (and EXPLAIN in the tests) sees exactly what runs.

    static func query(_ programID: UUID) -> PGQuery {
        """
        SELECT p.user_id, p.xmin::text, v.id, v.version, v.content_checksum,
               v.legacy_xmin = p.xmin::text OR s.legacy_xmin = p.xmin::text,
               NOT v.written_to_legacy AND s.program_id IS NULL,
               (SELECT enabled FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_LEGACY_READONLY')
          FROM programs p
          LEFT JOIN LATERAL (SELECT id, version, content_checksum, legacy_xmin, written_to_legacy FROM program_versions
                              WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
          LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
         WHERE p.id = \(programID)
        """
    }

    private static func queryWithLegacyJSON(_ programID: UUID) -> PGQuery {
        """
        SELECT p.user_id, p.xmin::text, v.id, v.version, v.content_checksum,
               v.legacy_xmin = p.xmin::text OR s.legacy_xmin = p.xmin::text,
               NOT v.written_to_legacy AND s.program_id IS NULL,
               f.enabled,
               CASE WHEN v.id IS NOT NULL AND (f.enabled OR (NOT v.written_to_legacy AND s.program_id IS NULL)) THEN NULL
                    ELSE p.program_json END
          FROM programs p
          LEFT JOIN LATERAL (SELECT id, version, content_checksum, legacy_xmin, written_to_legacy FROM program_versions
                              WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
          LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
          LEFT JOIN runtime_flags f ON f.name = 'PROGRAM_VERSIONING_LEGACY_READONLY'
         WHERE p.id = \(programID)
        """
    }

    private static func querySharedForOwner(_ programID: UUID, userID: UUID) -> PGQuery {
        """
        SELECT p.user_id, p.xmin::text, v.id, v.version, v.content_checksum,
               v.legacy_xmin = p.xmin::text OR s.legacy_xmin = p.xmin::text,
               NOT v.written_to_legacy AND s.program_id IS NULL,
               (SELECT enabled FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_LEGACY_READONLY')
          FROM programs p
          LEFT JOIN LATERAL (SELECT id, version, content_checksum, legacy_xmin, written_to_legacy FROM program_versions
                              WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
          LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
         WHERE p.id = \(programID) AND p.user_id = \(userID)
           FOR SHARE OF p
        """
    }
}
