import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Flags from `flags.json` (the repository root's defaults, or a deployment's own file),
/// re-read when it changes, for single-host deployments without the database store.
///
/// The file has the shape `flags show --json` prints. A missing, unreadable or malformed
/// file never changes the values in force: the last good values stay (none yet: `fallback`
/// answers), the problem is logged once at warning (a file missing at start included), and
/// while it runs (`run()`, as a `Service`) the next good edit is picked up within
/// `pollInterval`. `current()` is one atomic load.
public final class FileFlagSource: FlagSource, Service {
    private let path: String
    private let logger: Logger
    private let pollInterval: Duration
    private let fallback: any FlagSource
    private let packed = Atomic<UInt64>(0)
    /// Whether the last look at the file found a problem (already logged).
    private let complaining = Atomic<Bool>(false)
    /// The file's bytes when init read it (nil: missing or unreadable).
    private let readAtInit: Data?

    /// Reads the file once now; a relative `path` is relative to the working directory, so
    /// pass an absolute one in services.
    public init(path: String, logger: Logger, pollInterval: Duration = .milliseconds(500), fallback: any FlagSource = FixedFlagSource(.legacy)) {
        self.path = path
        self.logger = logger
        self.pollInterval = pollInterval
        self.fallback = fallback
        readAtInit = FileManager.default.contents(atPath: path)
        if case .failure(let problem) = load() { complain(problem) }
    }

    public func current() -> FlagSnapshot {
        PackedFlags.unpack(packed.load(ordering: .acquiring)) ?? fallback.current()
    }

    /// Watches the file until the task is cancelled or the service group shuts down
    /// gracefully. Run it once.
    public func run() async {
        await cancelWhenGracefulShutdown { await self.watch() }
    }

    private func watch() async {
        // Compared with what init read, so an edit made before `run()` started is not missed.
        var lastContents = readAtInit
        while !Task.isCancelled {
            let contents = FileManager.default.contents(atPath: path)
            guard contents == lastContents else {
                lastContents = contents
                reload()
                continue
            }
            try? await Task.sleep(for: pollInterval)
        }
    }

    private func reload() {
        switch load() {
        case .success:
            if complaining.exchange(false, ordering: .relaxed) {
                logger.notice("flags file readable again", metadata: ["path": "\(path)", "flags": "\(current())"])
            }
        case .failure(let problem):
            complain(problem)
        }
    }

    /// Logs a problem once, until the file is good again.
    private func complain(_ problem: Problem) {
        guard !complaining.exchange(true, ordering: .relaxed) else { return }
        logger.warning("flags file ignored; keeping the flags in force", metadata: ["path": "\(path)", "problem": "\(problem)"])
    }

    private struct Problem: Error, CustomStringConvertible, Sendable {
        var description: String
    }

    /// Reads the file; stores its values only when it is entirely valid.
    @discardableResult
    private func load() -> Result<FlagSnapshot, Problem> {
        guard let data = FileManager.default.contents(atPath: path) else { return .failure(Problem(description: "cannot read \(path)")) }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let writes = object[FlagName.writes.rawValue] as? [String: Any], let writesOn = writes["enabled"] as? Bool,
              let reads = object[FlagName.reads.rawValue] as? [String: Any], let readsOn = reads["enabled"] as? Bool
        else {
            return .failure(Problem(description: "expected {\"PROGRAM_VERSIONING_WRITES\": {\"enabled\": bool}, \"PROGRAM_VERSIONING_READS\": {\"enabled\": bool, \"percent\": 0-100}}"))
        }
        let percent = (reads["percent"] as? Int) ?? 100
        guard (0...100).contains(percent) else { return .failure(Problem(description: "percent must be 0-100, got \(percent)")) }
        // The phase-5 flag is optional: files written before it existed mean "off".
        var legacyReadOnly = false
        if let entry = object[FlagName.legacyReadOnly.rawValue] {
            guard let enabled = (entry as? [String: Any])?["enabled"] as? Bool else {
                return .failure(Problem(description: "\(FlagName.legacyReadOnly.rawValue) must be {\"enabled\": bool}"))
            }
            legacyReadOnly = enabled
        }
        let snapshot = FlagSnapshot(writes: writesOn, reads: readsOn, readPercent: percent, legacyReadOnly: legacyReadOnly)
        packed.store(PackedFlags.pack(snapshot), ordering: .releasing)
        return .success(snapshot)
    }
}

/// A snapshot in one 64-bit word, so sources publish and read it with one atomic
/// operation: bit 0 "loaded", bit 1 writes, bit 2 reads, bit 3 legacy read-only, bits 8-15
/// the percentage.
enum PackedFlags {
    static func pack(_ snapshot: FlagSnapshot) -> UInt64 {
        var value: UInt64 = 1
        if snapshot.writes { value |= 2 }
        if snapshot.reads { value |= 4 }
        if snapshot.legacyReadOnly { value |= 8 }
        return value | UInt64(snapshot.readPercent) << 8
    }

    /// nil when nothing was loaded.
    @inline(__always)
    static func unpack(_ value: UInt64) -> FlagSnapshot? {
        guard value & 1 != 0 else { return nil }
        return FlagSnapshot(
            writes: value & 2 != 0, reads: value & 4 != 0, readPercent: Int((value >> 8) & 0xFF), legacyReadOnly: value & 8 != 0)
    }
}
