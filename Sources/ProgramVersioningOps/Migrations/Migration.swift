import Foundation
import ProgramDomain

/// One migration file in goose's SQL format (`NNNNN_name.sql`).
///
/// Supported annotations: `-- +goose Up`, `-- +goose Down`, `-- +goose StatementBegin`,
/// `-- +goose StatementEnd` and `-- +goose NO TRANSACTION`. As in goose, a statement ends
/// at a line ending in `;`, except between StatementBegin and StatementEnd (for function
/// bodies and DO blocks).
public struct Migration: Sendable, Equatable {
    /// The version, from the file name's leading digits.
    public var version: Int64
    /// The file name.
    public var fileName: String
    /// SHA-256 of the file's bytes; an applied migration whose file changed is refused.
    public var checksum: String
    /// The statements of the Up section, in order.
    public var up: [String]
    /// The statements of the Down section, in order.
    public var down: [String]
    /// False when the file says `-- +goose NO TRANSACTION` (e.g. CREATE INDEX CONCURRENTLY).
    public var runsInTransaction: Bool

    /// Parses a migration file's text.
    public init(fileName: String, contents: String) throws(MigrationError) {
        guard let version = Migration.version(ofFileName: fileName) else {
            throw MigrationError(.badFile, "\(fileName): the name must start with a version number, like 00001_create_programs.sql")
        }
        self.version = version
        self.fileName = fileName
        self.checksum = SHA256Checksum.hex(contents)

        enum Section { case none, up, down }
        var section = Section.none
        var inBlock = false
        var runsInTransaction = true
        var current: [String] = []
        var up: [String] = []
        var down: [String] = []
        var sawUp = false

        func finishStatement() {
            let statement = current.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            current.removeAll()
            guard !statement.isEmpty, !Migration.isOnlyComments(statement) else { return }
            switch section {
            case .up: up.append(statement)
            case .down: down.append(statement)
            case .none: break
            }
        }

        for (index, line) in contents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-- +goose") {
                let annotation = trimmed.dropFirst("-- +goose".count).trimmingCharacters(in: .whitespaces)
                switch annotation.uppercased() {
                case "UP":
                    finishStatement()
                    section = .up
                    sawUp = true
                case "DOWN":
                    finishStatement()
                    section = .down
                case "STATEMENTBEGIN":
                    finishStatement()
                    inBlock = true
                case "STATEMENTEND":
                    guard inBlock else {
                        throw MigrationError(.badFile, "\(fileName):\(index + 1): StatementEnd without StatementBegin")
                    }
                    inBlock = false
                    finishStatement()
                case "NO TRANSACTION":
                    runsInTransaction = false
                default:
                    throw MigrationError(.badFile, "\(fileName):\(index + 1): unknown goose annotation '\(annotation)'")
                }
                continue
            }
            guard section != .none else { continue }
            current.append(String(line))
            if !inBlock, Migration.endsStatement(trimmed) { finishStatement() }
        }
        guard !inBlock else { throw MigrationError(.badFile, "\(fileName): StatementBegin without StatementEnd") }
        finishStatement()
        guard sawUp else { throw MigrationError(.badFile, "\(fileName): no '-- +goose Up' section") }
        self.up = up
        self.down = down
        self.runsInTransaction = runsInTransaction
    }

    static func version(ofFileName name: String) -> Int64? {
        guard name.hasSuffix(".sql") else { return nil }
        let digits = name.prefix(while: \.isNumber)
        guard !digits.isEmpty, name.dropFirst(digits.count).first == "_" else { return nil }
        return Int64(digits)
    }

    /// A line ends a statement when its code (before a `--` comment) ends with `;`.
    static func endsStatement(_ line: String) -> Bool {
        if line.hasPrefix("--") { return false }
        return line.hasSuffix(";")
    }

    static func isOnlyComments(_ statement: String) -> Bool {
        statement.split(separator: "\n").allSatisfy {
            let line = $0.trimmingCharacters(in: .whitespaces)
            return line.isEmpty || line.hasPrefix("--")
        }
    }

    /// The migrations this package ships (the repository's `migrations/`, built in as a
    /// resource), so the migrator runs from any working directory.
    ///
    /// Looked for without `Bundle.module`, whose accessor stops the process when the
    /// resource folder is not beside the binary (a binary copied alone to /usr/local/bin):
    /// beside the running binary (the build folder, or wherever it was copied with the
    /// folder), else a clear error.
    public static func shipped() throws(MigrationError) -> [Migration] {
        let bundleName = "ProgramVersioning_ProgramVersioningOps.resources"
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent(bundleName).appendingPathComponent("SQL"),
            URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
                .deletingLastPathComponent().appendingPathComponent(bundleName).appendingPathComponent("SQL"),
        ]
        var isDirectory: ObjCBool = false
        guard let folder = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path, isDirectory: &isDirectory) && isDirectory.boolValue })
        else {
            throw MigrationError(
                .missingDirectory,
                "the migrations this program ships are not beside it (\(bundleName) was not copied with the binary); "
                    + "copy that folder next to it, or pass --migrations PATH")
        }
        return try load(from: folder.path)
    }

    /// Reads every `NNNNN_*.sql` file of `directory`, sorted by version.
    public static func load(from directory: String) throws(MigrationError) -> [Migration] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw MigrationError(
                .missingDirectory,
                "migrations folder \(directory) does not exist: pass --migrations with an existing folder, or leave it out to use the migrations this program ships")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw MigrationError(.missingDirectory, "cannot read migrations folder \(directory): \(error.localizedDescription)")
        }
        var migrations: [Migration] = []
        for name in names.sorted() where name.hasSuffix(".sql") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw MigrationError(.badFile, "cannot read \(path) as UTF-8 text")
            }
            migrations.append(try Migration(fileName: name, contents: text))
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw MigrationError(.badFile, "\(previous.fileName) and \(next.fileName) have the same version \(next.version)")
        }
        if migrations.isEmpty {
            throw MigrationError(.missingDirectory, "migrations folder \(directory) holds no NNNNN_name.sql files")
        }
        return migrations
    }
}

/// A migration that could not be read or applied.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable {
        /// The migrations folder is missing or empty.
        case missingDirectory
        /// A file is malformed.
        case badFile
        /// An applied migration's file was edited afterwards.
        case editedAfterApply
        /// A version recorded as applied has no file (and cannot be rolled back).
        case missingFile
        /// Another migrator held the lock for longer than the timeout.
        case locked
        /// A statement of a migration failed; nothing of that migration was kept
        /// (unless it runs outside a transaction).
        case statementFailed
        /// A rollback would destroy rows and was refused before anything changed.
        case dataLoss
    }

    /// The kind of failure.
    public var code: Code
    /// What failed, why, and what to do.
    public var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
