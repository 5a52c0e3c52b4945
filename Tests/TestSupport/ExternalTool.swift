import Foundation

/// Runs a program found on PATH (pg_dump, psql) and captures its output.
public enum ExternalTool {
    /// Runs `name` with `arguments`; `environment` entries are added to the test's own.
    public static func run(_ name: String, _ arguments: [String], environment: [String: String?] = [:]) async throws -> CommandLineTool.Outcome {
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        return try await runProcess(URL(fileURLWithPath: "/usr/bin/env"), [name] + arguments, environment: env)
    }

    /// Runs `name` in `directory` (e.g. `swift build` of another package).
    public static func run(
        _ name: String, _ arguments: [String], in directory: URL, environment: [String: String?] = [:]
    ) async throws -> CommandLineTool.Outcome {
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        return try await runProcess(URL(fileURLWithPath: "/usr/bin/env"), [name] + arguments, environment: env, workingDirectory: directory)
    }

    /// Runs an executable to completion, capturing its output in files (a chatty child can
    /// never fill a pipe and stall), and waits without blocking a cooperative thread.
    static func runProcess(
        _ executable: URL, _ arguments: [String], environment: [String: String], workingDirectory: URL? = nil
    ) async throws -> CommandLineTool.Outcome {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let folder = try TemporaryFolder.make()
        defer { folder.remove() }
        let outURL = folder.url.appendingPathComponent("out"), errURL = folder.url.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try out.close()
        try err.close()
        return .init(
            status: status, stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }
}

/// A scratch folder under the system's temporary directory.
public struct TemporaryFolder: Sendable {
    /// Where it is.
    public let url: URL
    /// Its path.
    public var path: String { url.path }

    /// Creates an empty folder.
    public static func make() throws -> TemporaryFolder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return TemporaryFolder(url: url)
    }

    /// A copy of the folder at `source`.
    public static func copy(of source: String) throws -> TemporaryFolder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pv-\(UUID().uuidString)")
        try FileManager.default.copyItem(atPath: source, toPath: url.path)
        return TemporaryFolder(url: url)
    }

    /// Deletes it.
    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
