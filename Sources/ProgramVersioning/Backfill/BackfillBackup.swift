import Foundation
import PostgresDriver
import ProgramDomain
import Synchronization

/// `--backup DIR`: before a run writes anything, the legacy tables it touches are copied to
/// files with COPY (text format, restorable with `\copy TABLE FROM FILE`), from one
/// consistent snapshot, next to a manifest with each file's rows, size and SHA-256.
public enum BackfillBackup {
    /// One backed-up table.
    public struct File: Sendable, Equatable {
        public var table: String
        public var path: String
        public var rows: Int
        public var bytes: Int
        public var sha256: String
    }

    /// The tables a run of each kind could change or depends on (all legacy).
    static func tables(for kind: BackfillKind) -> [String] {
        switch kind {
        case .programs: ["programs"]
        case .sessions: ["workout_sessions", "logged_sets"]
        }
    }

    /// Writes `<directory>/backfill-<kind>-<runID>/` and returns its files; the manifest is
    /// `manifest.json` in the same folder.
    static func write(
        _ kind: BackfillKind, runID: UUID, userID: UUID?, to directory: String, on connection: PostgresConnection
    ) async throws -> (folder: String, files: [File]) {
        let folder = URL(fileURLWithPath: directory).appendingPathComponent("backfill-\(kind.rawValue)-\(runID.uuidString.lowercased())")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw BackfillError.backupFailed("cannot create \(folder.path): \(error.localizedDescription)")
        }
        // One snapshot for every table; the user filter travels as a setting, not as SQL text.
        let files = try await connection.transaction(isolation: .repeatableRead) { connection in
            try await connection.query("SET TRANSACTION READ ONLY")
            try await connection.query("SELECT set_config('program_versioning.backup_user', \(userID?.uuidString ?? ""), true)")
            var files: [File] = []
            for table in tables(for: kind) {
                let path = folder.appendingPathComponent("\(table).copy").path
                guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                    throw BackfillError.backupFailed("cannot create \(path)")
                }
                let sink = FileSink(handle)
                let rows = try await connection.copyTo(PostgresQuery(unsafeSQL: """
                    COPY (SELECT * FROM \(table)
                           WHERE CASE WHEN current_setting('program_versioning.backup_user') = '' THEN true
                                      ELSE user_id = current_setting('program_versioning.backup_user')::uuid END
                           ORDER BY id) TO STDOUT
                    """), sink.write)
                let (bytes, digest) = try sink.close()
                files.append(File(table: table, path: path, rows: rows, bytes: bytes, sha256: digest))
            }
            return files
        }
        let manifest: [String: Any] = [
            "runId": runID.uuidString.lowercased(), "kind": kind.rawValue, "createdAt": ISO8601DateFormatter().string(from: Date()),
            "user": userID.map { $0.uuidString.lowercased() } ?? NSNull(), "format": "PostgreSQL COPY text, ordered by id",
            "restore": "psql -c \"\\copy TABLE FROM 'TABLE.copy'\" (into an empty table of the same columns)",
            "files": files.map { ["table": $0.table, "file": URL(fileURLWithPath: $0.path).lastPathComponent, "rows": $0.rows,
                                  "bytes": $0.bytes, "sha256": $0.sha256] },
        ]
        do {
            let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: folder.appendingPathComponent("manifest.json"))
        } catch {
            throw BackfillError.backupFailed("cannot write the manifest in \(folder.path): \(error.localizedDescription)")
        }
        return (folder.path, files)
    }
}

/// A file COPY data goes to, hashed as it is written. Written from the connection's thread.
private final class FileSink: Sendable {
    private let state: Mutex<(handle: FileHandle?, hasher: SHA256Checksum.Hasher, bytes: Int, error: String?)>

    init(_ handle: FileHandle) {
        state = Mutex((handle, SHA256Checksum.Hasher(), 0, nil))
    }

    @Sendable func write(_ chunk: [UInt8]) throws {
        try state.withLock { state in
            do {
                try state.handle?.write(contentsOf: chunk)
            } catch {
                throw BackfillError.backupFailed("cannot write the backup: \(error.localizedDescription)")
            }
            state.hasher.update(chunk)
            state.bytes += chunk.count
        }
    }

    func close() throws -> (bytes: Int, sha256: String) {
        try state.withLock { state in
            do {
                try state.handle?.synchronize()
                try state.handle?.close()
            } catch {
                throw BackfillError.backupFailed("cannot finish the backup file: \(error.localizedDescription)")
            }
            state.handle = nil
            return (state.bytes, state.hasher.finalizedHex())
        }
    }
}
