import Foundation
import PostgresDriver
import ProgramDomain
import Synchronization

/// Copies of tables in files, made before anything changes them: COPY text format
/// (restorable with `\copy TABLE FROM FILE`), all from one consistent snapshot, next to a
/// `manifest.json` with each file's rows, size and SHA-256. `backfill --backup` and
/// `legacy backup` make them; `legacy retire` verifies one before it goes ahead.
public enum TableBackup {
    /// One backed-up table.
    public struct File: Sendable, Equatable {
        public var table: String
        public var path: String
        public var rows: Int
        public var bytes: Int
        public var sha256: String
    }

    /// Why a backup could not be written or does not verify.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Writes `tables` (for `userID` only, when given) into `folder`, then the manifest with
    /// `fields` added to it. Returns the files and the manifest's own SHA-256.
    static func write(
        tables: [String], userID: UUID? = nil, to folder: URL, manifestFields fields: [String: Any],
        on connection: PGConnection
    ) async throws -> (files: [File], manifestSHA256: String) {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw Failure(description: "cannot create \(folder.path): \(error.localizedDescription)")
        }
        // One snapshot for every table; the user filter travels as a setting, not as SQL text.
        let files = try await connection.transaction(isolation: .repeatableRead) { connection in
            try await connection.query("SET TRANSACTION READ ONLY")
            try await connection.query("SELECT set_config('program_versioning.backup_user', \(userID?.uuidString ?? ""), true)")
            var files: [File] = []
            for table in tables {
                let path = folder.appendingPathComponent("\(table).copy").path
                guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                    throw Failure(description: "cannot create \(path)")
                }
                let sink = FileSink(handle)
                // Ordered by the primary key, as the catalog names it (quoted there); table
                // names are the callers' constants or migration files', never data.
                let key = try await connection.query("""
                    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY array_position(i.indkey::int2[], a.attnum))
                      FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                     WHERE i.indrelid = to_regclass(\(table)) AND i.indisprimary
                    """).single().decode(String?.self, at: 0) ?? "1"
                let filter = userID == nil
                    ? ""
                    : "WHERE user_id = current_setting('program_versioning.backup_user')::uuid"
                let rows = try await connection.copyTo(PGQuery(unsafeSQL: """
                    COPY (SELECT * FROM \(table) \(filter) ORDER BY \(key)) TO STDOUT
                    """), sink.write)
                let (bytes, digest) = try sink.close()
                files.append(File(table: table, path: path, rows: rows, bytes: bytes, sha256: digest))
            }
            return files
        }
        var manifest = fields
        manifest["createdAt"] = ISO8601DateFormatter().string(from: Date())
        manifest["user"] = userID.map { $0.uuidString.lowercased() } ?? NSNull()
        manifest["format"] = "PostgreSQL COPY text, ordered by key"
        manifest["restore"] = "psql -c \"\\copy TABLE FROM 'TABLE.copy'\" (into an empty table of the same columns)"
        manifest["files"] = files.map {
            ["table": $0.table, "file": URL(fileURLWithPath: $0.path).lastPathComponent, "rows": $0.rows, "bytes": $0.bytes, "sha256": $0.sha256]
        }
        do {
            let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: folder.appendingPathComponent("manifest.json"))
            return (files, SHA256Checksum.hex(data))
        } catch {
            throw Failure(description: "cannot write the manifest in \(folder.path): \(error.localizedDescription)")
        }
    }

    /// Checks that `folder` still holds what its manifest says (every file there, of its size
    /// and SHA-256) and that the manifest is the one recorded (`manifestSHA256`). Reads every
    /// byte; nothing is written.
    static func verify(folder: URL, manifestSHA256: String) throws(Failure) -> [File] {
        let manifestURL = folder.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
            throw Failure(description: "\(manifestURL.path) is missing")
        }
        guard SHA256Checksum.hex(data) == manifestSHA256 else {
            throw Failure(description: "\(manifestURL.path) is not the manifest recorded when the backup was made")
        }
        guard let manifest = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let entries = manifest["files"] as? [[String: Any]]
        else {
            throw Failure(description: "\(manifestURL.path) cannot be read")
        }
        var files: [File] = []
        for entry in entries {
            guard let table = entry["table"] as? String, let name = entry["file"] as? String, let rows = entry["rows"] as? Int,
                  let bytes = entry["bytes"] as? Int, let sha256 = entry["sha256"] as? String
            else {
                throw Failure(description: "\(manifestURL.path) has an entry without table, file, rows, bytes and sha256")
            }
            let path = folder.appendingPathComponent(name).path
            let (actualBytes, actualDigest) = try digest(ofFileAt: path)
            guard actualBytes == bytes, actualDigest == sha256 else {
                throw Failure(description: "\(path) changed since the backup was made (\(actualBytes) bytes, SHA-256 \(actualDigest.prefix(12))...)")
            }
            files.append(File(table: table, path: path, rows: rows, bytes: bytes, sha256: sha256))
        }
        return files
    }

    private static func digest(ofFileAt path: String) throws(Failure) -> (bytes: Int, sha256: String) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Failure(description: "\(path) is missing") }
        defer { try? handle.close() }
        var hasher = SHA256Checksum.Hasher()
        var bytes = 0
        while true {
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: 1 << 20)
            } catch {
                throw Failure(description: "cannot read \(path): \(error.localizedDescription)")
            }
            guard let chunk, !chunk.isEmpty else { break }
            hasher.update(Array(chunk))
            bytes += chunk.count
        }
        return (bytes, hasher.finalizedHex())
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
                throw TableBackup.Failure(description: "cannot write the backup: \(error.localizedDescription)")
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
                throw TableBackup.Failure(description: "cannot finish the backup file: \(error.localizedDescription)")
            }
            state.handle = nil
            return (state.bytes, state.hasher.finalizedHex())
        }
    }
}
