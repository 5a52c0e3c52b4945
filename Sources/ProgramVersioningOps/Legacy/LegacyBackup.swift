import Foundation
import Logging
import PostgresDriver

/// `legacy backup --to DIR`: the four legacy tables copied to files (see `TableBackup`) and
/// recorded in `legacy_backups`, so `legacy retire` can find the backup, verify its files
/// against the manifest, and tell whether the legacy programs changed since.
public struct LegacyBackup: Sendable {
    /// One recorded backup.
    public struct Record: Sendable {
        public var id: UUID
        public var folder: String
        public var manifestSHA256: String
        /// Rows and row revisions of `programs` when the backup was made (see `programsDigest`).
        public var programsDigest: String
        public var createdAt: Date
        public var createdBy: String
        public var files: [TableBackup.File]
    }

    /// Every table of the app's schema (DESIGN.md §2).
    static let tables = ["programs", "workout_sessions", "logged_sets", "user_program_states"]

    private let pool: PGPool

    public init(pool: PGPool) {
        self.pool = pool
    }

    /// Writes `<directory>/legacy-<id>/` and records it.
    public func make(to directory: String) async throws -> Record {
        try await pool.withConnection { connection in
            if try await LegacyRetirement.inForce(on: connection) != nil {
                throw TableBackup.Failure(description: "the legacy JSON is retired; run legacy restore before backing it up")
            }
            let id = UUID()
            let folder = URL(fileURLWithPath: directory).appendingPathComponent("legacy-\(id.uuidString.lowercased())")
            let before = try await Self.programsDigest(on: connection)
            let (files, manifestSHA256) = try await TableBackup.write(
                tables: Self.tables, to: folder, manifestFields: ["backupId": id.uuidString.lowercased(), "kind": "legacy"],
                on: connection)
            // Phase 5 keeps legacy still, so this only fails if something wrote programs meanwhile.
            guard try await Self.programsDigest(on: connection) == before else {
                throw TableBackup.Failure(description: "programs changed while the backup was written; run it again")
            }
            let row = try await connection.query("""
                INSERT INTO legacy_backups (id, folder, manifest_sha256, programs_digest)
                VALUES (\(id), \(folder.path), \(manifestSHA256), \(before))
                RETURNING created_at, created_by
                """).single()
            let (createdAt, createdBy) = try row.decode((Date, String).self)
            return Record(
                id: id, folder: folder.path, manifestSHA256: manifestSHA256, programsDigest: before, createdAt: createdAt,
                createdBy: createdBy, files: files)
        }
    }

    /// The newest recorded backup.
    static func latest(on connection: PGConnection) async throws -> Record? {
        guard let row = try await connection.query("""
            SELECT id, folder, manifest_sha256, programs_digest, created_at, created_by FROM legacy_backups
             ORDER BY created_at DESC LIMIT 1
            """).first
        else { return nil }
        let (id, folder, manifest, digest, createdAt, createdBy) = try row.decode((UUID, String, String, String, Date, String).self)
        return Record(id: id, folder: folder, manifestSHA256: manifest, programsDigest: digest, createdAt: createdAt, createdBy: createdBy, files: [])
    }

    /// What the legacy programs are now, in one line: how many rows and an order-free sum of
    /// their ids and row revisions. Any write of any row changes it (a row's `xmin` does).
    static func programsDigest(on connection: PGConnection) async throws -> String {
        try await connection.query("""
            SELECT count(*) || ':' || coalesce(sum(hashtextextended(id::text || '/' || xmin::text, 0)::numeric), 0) FROM programs
            """).single().decode(String.self, at: 0)
    }
}
