import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process run to completion with its peak resident memory, which `Process` does
/// not report: `wait4` returns the child's own rusage. The wait happens on a thread of its
/// own, never on the cooperative pool.
struct MeasuredProcess {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The child's peak resident set size, in KiB (Linux `ru_maxrss`).
    var peakResidentKiB: Int

    static func run(_ executable: String, _ arguments: [String]) async throws -> MeasuredProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pv-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("stdout").path, err = directory.appendingPathComponent("stderr").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL) }

        let child = pid
        let (status, peak) = await withCheckedContinuation { (continuation: CheckedContinuation<(Int32, Int), Never>) in
            Thread {
                var status: Int32 = 0
                var usage = rusage()
                while wait4(child, &status, 0, &usage) < 0, errno == EINTR {}
                let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                continuation.resume(returning: (exitStatus, Int(usage.ru_maxrss)))
            }.start()
        }
        return MeasuredProcess(
            status: status, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "", peakResidentKiB: peak)
    }
}
