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
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DATABASE_URL")
        for (key, value) in environment { env[key] = value }
        return try await ExternalTool.runProcess(
            binary, arguments, environment: env, workingDirectory: workingDirectory ?? TestDatabase.repositoryRoot)
    }

    /// Starts the CLI and returns the running process (for kill tests); with `output`, its
    /// stdout and stderr go to `output.stdout` and `output.stderr` files.
    public static func start(_ arguments: [String], output: URL? = nil) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = TestDatabase.repositoryRoot
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DATABASE_URL")
        process.environment = env
        if let output {
            for suffix in ["stdout", "stderr"] {
                FileManager.default.createFile(atPath: output.appendingPathExtension(suffix).path, contents: nil)
            }
            process.standardOutput = try FileHandle(forWritingTo: output.appendingPathExtension("stdout"))
            process.standardError = try FileHandle(forWritingTo: output.appendingPathExtension("stderr"))
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        return process
    }
}
