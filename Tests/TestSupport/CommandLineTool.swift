import Foundation

/// Runs the built `program-versioning` binary as an operator would, in its own process.
public enum CommandLineTool {
    /// What a run printed and how it ended.
    public struct Outcome: Sendable {
        /// The exit code.
        public var status: Int32
        /// Everything written to stdout.
        public var stdout: String
        /// Everything written to stderr.
        public var stderr: String
    }

    /// The binary next to the test bundle (`swift build` puts both in `.build/debug`).
    public static var binary: URL {
        if let explicit = ProcessInfo.processInfo.environment["PV_CLI_BINARY"] { return URL(fileURLWithPath: explicit) }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // On Linux the runner is .build/debug/X.xctest; elsewhere it may sit inside a bundle.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("program-versioning").path),
              directory.pathComponents.count > 1 {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("program-versioning")
    }

    /// Runs the CLI with `arguments`; `environment` is added to (or, with nil values, removed
    /// from) the test's environment. Waits without blocking a cooperative thread.
    public static func run(
        _ arguments: [String], environment: [String: String?] = [:], workingDirectory: URL? = nil
    ) async throws -> Outcome {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DATABASE_URL")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.currentDirectoryURL = workingDirectory ?? TestDatabase.repositoryRoot
        // Files, not pipes: a chatty child can never fill a pipe and stall.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pv-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("stdout"), errURL = directory.appendingPathComponent("stderr")
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
        return Outcome(
            status: status,
            stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// Starts the CLI and returns the running process (for kill tests).
    public static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = TestDatabase.repositoryRoot
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}
