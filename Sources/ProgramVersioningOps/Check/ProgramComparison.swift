import Foundation
import PostgresDriver
import ProgramDomain
import ProgramVersioning

/// One page of programs compared field by field: the legacy JSON (through the domain's
/// canonical form) against the latest version rebuilt from the versioned tables, plus the
/// numbering of the page's versions.
///
/// Phase 5: a latest version the legacy JSON does not hold yet (saved while legacy was
/// read-only) is expected while PROGRAM_VERSIONING_LEGACY_READONLY is on and only counted;
/// with the flag off it is a difference (LEGACY_BEHIND). Once legacy is retired there is no
/// legacy JSON to compare: each latest version is checked against its own checksum.
struct ProgramComparison: CheckPager {
    var userID: UUID?
    var writesOn: Bool
    var legacyReadOnly = false
    var legacyRetired = false
    /// The part of the key space this walk covers: `from` inclusive, `to` exclusive, nil
    /// for open. Program ids are random, so halves of the UUID space hold about as many
    /// programs each, and two walks keep both the database and the comparison busy.
    var from: UUID?
    var to: UUID?

    /// Two walks that together cover every program exactly once.
    static func halves(userID: UUID?, writesOn: Bool, legacyReadOnly: Bool = false, legacyRetired: Bool = false) -> [ProgramComparison] {
        let middle = UUID(uuid: (0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        return [(nil, middle), (middle, nil)].map { from, to in
            ProgramComparison(
                userID: userID, writesOn: writesOn, legacyReadOnly: legacyReadOnly, legacyRetired: legacyRetired, from: from, to: to)
        }
    }

    func run(after cursor: UUID?, pageSize: Int, on connection: PGConnection) async throws -> CheckPage {
        // The legacy JSON travels only where it is compared: not for a version it does not
        // hold yet, not at all once retired (the column has another name then).
        let rows = legacyRetired
            ? try await connection.query("""
                SELECT p.id, NULL::jsonb, v.id, v.source_checksum, v.content_checksum, false
                  FROM programs p
                  LEFT JOIN LATERAL (SELECT id, source_checksum, content_checksum FROM program_versions
                                      WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
                 WHERE (\(cursor)::uuid IS NULL OR p.id > \(cursor)) AND (\(userID)::uuid IS NULL OR p.user_id = \(userID))
                   AND (\(from)::uuid IS NULL OR p.id >= \(from)) AND (\(to)::uuid IS NULL OR p.id < \(to))
                 ORDER BY p.id
                 LIMIT \(pageSize)
                """)
            : try await connection.query("""
                SELECT p.id, CASE WHEN v.behind THEN NULL ELSE p.program_json END, v.id, v.source_checksum, v.content_checksum,
                       coalesce(v.behind, false)
                  FROM programs p
                  LEFT JOIN LATERAL (SELECT id, source_checksum, content_checksum,
                                            NOT written_to_legacy AND NOT EXISTS (
                                              SELECT 1 FROM legacy_syncs s WHERE s.program_id = p.id AND s.program_version_id = pv.id)
                                              AS behind
                                       FROM program_versions pv
                                      WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
                 WHERE (\(cursor)::uuid IS NULL OR p.id > \(cursor)) AND (\(userID)::uuid IS NULL OR p.user_id = \(userID))
                   AND (\(from)::uuid IS NULL OR p.id >= \(from)) AND (\(to)::uuid IS NULL OR p.id < \(to))
                 ORDER BY p.id
                 LIMIT \(pageSize)
                """)
        var page = CheckPage()
        var entries: [(id: UUID, json: PGJSONB?, versionID: UUID?, source: String?, content: String?)] = []
        for row in rows {
            let (id, json, versionID, source, content, behind) = try row.decode((UUID, PGJSONB?, UUID?, String?, String?, Bool).self)
            page.scanned += 1
            page.keysRead += 1
            page.lastKey = id
            if behind, let versionID {
                if legacyReadOnly {
                    page.legacyBehind += 1
                } else {
                    page.differences.append(CheckDifference(
                        programID: id, kind: .legacyBehind, path: nil, legacy: nil,
                        versioned: "version \(versionID.uuidString.lowercased()) is not in the legacy JSON; run backfill legacy"))
                }
                continue
            }
            entries.append((id, json, versionID, source, content))
        }
        guard page.scanned > 0 else { return page }
        let versioned = entries.filter { $0.versionID != nil }
        let contents = try await VersionContent.load(
            versionIDs: versioned.compactMap(\.versionID), of: versioned.map(\.id), on: connection)

        let (comparison, read) = (self, entries)
        page.compare = {
            read.flatMap { entry in
                guard let json = entry.json else {
                    return comparison.checkAlone(entry.id, versionID: entry.versionID, contentChecksum: entry.content,
                                                 content: entry.versionID.flatMap { contents[$0] })
                }
                return comparison.compare(entry.id, legacyJSON: json.bytes, versionID: entry.versionID,
                                          sourceChecksum: entry.source, contentChecksum: entry.content,
                                          content: entry.versionID.flatMap { contents[$0] })
            }
        }
        let sequences = try await connection.query("""
            SELECT program_id, count(*), min(version), max(version), count(DISTINCT version)
              FROM program_versions WHERE program_id = ANY(\(rows.map { try $0.decode(UUID.self, at: 0) }))
             GROUP BY program_id
            HAVING min(version) <> 1 OR max(version) <> count(*) OR count(DISTINCT version) <> count(*)
            """)
        for row in sequences {
            let (id, count, first, last, _) = try row.decode((UUID, Int, Int32, Int32, Int).self)
            page.differences.append(CheckDifference(
                programID: id, kind: .versionSequence, path: "version", legacy: nil,
                versioned: "\(count) versions numbered \(first) to \(last)"))
        }
        return page
    }

    /// A version with no legacy JSON to compare against (legacy retired): its rows must
    /// rebuild the content its checksum names.
    private func checkAlone(
        _ id: UUID, versionID: UUID?, contentChecksum: String?, content: Result<Program, UnreadableVersion>?
    ) -> [CheckDifference] {
        guard let versionID else {
            return [CheckDifference(programID: id, kind: .missingVersion, path: nil, legacy: nil, versioned: nil)]
        }
        switch content {
        case .success(let program)?:
            let checksum = program.canonicalChecksum
            guard checksum == contentChecksum else {
                return [CheckDifference(programID: id, kind: .contentMismatch, path: "content_checksum", legacy: nil, versioned: checksum)]
            }
            return []
        case .failure(let error)?:
            return [CheckDifference(programID: id, kind: .contentMismatch, path: nil, legacy: nil, versioned: error.message)]
        case nil:
            return [CheckDifference(programID: id, kind: .contentMismatch, path: nil, legacy: nil, versioned: "version \(versionID) has no rows")]
        }
    }

    private func compare(
        _ id: UUID, legacyJSON: [UInt8], versionID: UUID?, sourceChecksum: String?, contentChecksum: String?,
        content: Result<Program, UnreadableVersion>?
    ) -> [CheckDifference] {
        let legacy: Program
        switch LegacyReading(legacyJSON: legacyJSON) {
        case .valid(let program):
            legacy = program
        case .unreadable(let error):
            return error.problems.map {
                CheckDifference(programID: id, kind: .invalidLegacy, path: $0.path.description, legacy: "\($0.reason)", versioned: nil)
            }
        case .invalid(_, let violations):
            return violations.map {
                CheckDifference(programID: id, kind: .invalidLegacy, path: $0.path.description, legacy: $0.message, versioned: nil)
            }
        }
        guard let versionID, let sourceChecksum else {
            return writesOn ? [CheckDifference(programID: id, kind: .missingVersion, path: nil, legacy: nil, versioned: nil)] : []
        }
        let checksum = legacy.canonicalChecksum
        let versioned: Program
        switch content {
        case .success(let program)?: versioned = program
        case .failure(let error)?:
            return [CheckDifference(programID: id, kind: .contentMismatch, path: nil, legacy: nil, versioned: error.message)]
        case nil:
            return [CheckDifference(programID: id, kind: .contentMismatch, path: nil, legacy: nil, versioned: "version \(versionID) has no rows")]
        }
        // One finding per field that differs; if none does, the checksums that do.
        func fields(_ kind: DifferenceKind, orChecksums path: String, _ versionedChecksum: String) -> [CheckDifference] {
            let found = legacy.differences(from: versioned).map {
                CheckDifference(programID: id, kind: kind, path: $0.path, legacy: $0.left?.jsonText, versioned: $0.right?.jsonText)
            }
            return found.isEmpty
                ? [CheckDifference(programID: id, kind: kind, path: path, legacy: checksum, versioned: versionedChecksum)] : found
        }
        // A stale version (legacy saved since): which fields the app would see change.
        guard checksum == sourceChecksum else { return fields(.staleVersion, orChecksums: "source_checksum", sourceChecksum) }
        // What the rows hold now, not what was stored beside them: the canonical form is
        // written from the text's bytes, so a name rewritten to another normalization shows.
        let rebuilt = versioned.canonicalChecksum
        guard rebuilt == checksum else { return fields(.contentMismatch, orChecksums: "content", rebuilt) }
        if let contentChecksum, contentChecksum != checksum {
            return [CheckDifference(programID: id, kind: .contentMismatch, path: "content_checksum", legacy: checksum, versioned: contentChecksum)]
        }
        return []
    }
}
