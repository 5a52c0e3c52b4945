import Foundation
import PostgresDriver
import ProgramDomain

/// One page of programs compared field by field: the legacy JSON (through the domain's
/// canonical form) against the latest version rebuilt from the versioned tables, plus the
/// numbering of the page's versions.
struct ProgramComparison: CheckPager {
    var userID: UUID?
    var writesOn: Bool
    /// The part of the key space this walk covers: `from` inclusive, `to` exclusive, nil
    /// for open. Program ids are random, so halves of the UUID space hold about as many
    /// programs each, and two walks keep both the database and the comparison busy.
    var from: UUID?
    var to: UUID?

    /// Two walks that together cover every program exactly once.
    static func halves(userID: UUID?, writesOn: Bool) -> [ProgramComparison] {
        let middle = UUID(uuid: (0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        return [
            ProgramComparison(userID: userID, writesOn: writesOn, from: nil, to: middle),
            ProgramComparison(userID: userID, writesOn: writesOn, from: middle, to: nil),
        ]
    }

    func run(after cursor: UUID?, pageSize: Int, on connection: PostgresConnection) async throws -> CheckPage {
        let rows = try await connection.query("""
            SELECT p.id, p.program_json, v.id, v.source_checksum, v.content_checksum
              FROM programs p
              LEFT JOIN LATERAL (SELECT id, source_checksum, content_checksum FROM program_versions
                                  WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
             WHERE (\(cursor)::uuid IS NULL OR p.id > \(cursor)) AND (\(userID)::uuid IS NULL OR p.user_id = \(userID))
               AND (\(from)::uuid IS NULL OR p.id >= \(from)) AND (\(to)::uuid IS NULL OR p.id < \(to))
             ORDER BY p.id
             LIMIT \(pageSize)
            """)
        var page = CheckPage()
        var entries: [(id: UUID, json: PostgresJSONB, versionID: UUID?, source: String?, content: String?)] = []
        for row in rows {
            let (id, json, versionID, source, content) = try row.decode((UUID, PostgresJSONB, UUID?, String?, String?).self)
            entries.append((id, json, versionID, source, content))
            page.scanned += 1
            page.keysRead += 1
            page.lastKey = id
        }
        guard !entries.isEmpty else { return page }
        let contents = try await VersionContent.load(versionIDs: entries.compactMap(\.versionID), on: connection)

        let (comparison, read) = (self, entries)
        page.compare = {
            read.flatMap { entry in
                comparison.compare(entry.id, legacyJSON: entry.json.bytes, versionID: entry.versionID,
                                   sourceChecksum: entry.source, contentChecksum: entry.content,
                                   content: entry.versionID.flatMap { contents[$0] })
            }
        }
        let sequences = try await connection.query("""
            SELECT program_id, count(*), min(version), max(version), count(DISTINCT version)
              FROM program_versions WHERE program_id = ANY(\(entries.map(\.id)))
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

    private func compare(
        _ id: UUID, legacyJSON: [UInt8], versionID: UUID?, sourceChecksum: String?, contentChecksum: String?,
        content: Result<Program, PostgresError>?
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
        guard checksum == sourceChecksum else {
            return [CheckDifference(programID: id, kind: .staleVersion, path: nil, legacy: checksum, versioned: sourceChecksum)]
        }
        let versioned: Program
        switch content {
        case .success(let program)?: versioned = program
        case .failure(let error)?:
            return [CheckDifference(programID: id, kind: .contentMismatch, path: nil, legacy: nil, versioned: error.message)]
        case nil:
            return [CheckDifference(programID: id, kind: .contentMismatch, path: nil, legacy: nil, versioned: "version \(versionID) has no rows")]
        }
        // Equal programs have equal canonical forms, so the legacy checksum stands for the
        // version's too; the field-by-field walk runs only when something differs.
        guard legacy == versioned else {
            return legacy.differences(from: versioned).map {
                CheckDifference(programID: id, kind: .contentMismatch, path: $0.path, legacy: $0.left?.jsonText, versioned: $0.right?.jsonText)
            }
        }
        if let contentChecksum, contentChecksum != checksum {
            return [CheckDifference(programID: id, kind: .contentMismatch, path: "content_checksum", legacy: checksum, versioned: contentChecksum)]
        }
        return []
    }
}
