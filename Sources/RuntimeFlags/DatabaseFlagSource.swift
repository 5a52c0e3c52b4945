import Foundation
import Logging
import PostgresDriver
import ServiceLifecycle
import Synchronization

/// Flags from the runtime store in PostgreSQL, kept current in memory.
///
/// While it runs (`run()`, as a `Service` in the app's `ServiceGroup`), it listens on
/// `program_versioning_flags` (the store notifies on every flip) and re-reads the flags when
/// told, and every `refreshInterval` as a safety net. It stops on cancellation or graceful
/// shutdown; the values it read stay in force.
/// `current()` is one atomic load: no lock, no allocation. Until the first successful read,
/// and never after a failure, it answers from `fallback` (the lower layers: environment,
/// flags.json, else legacy); once loaded, a lost database keeps the last values in force
/// (logged once) until the source reconnects on its own.
public final class DatabaseFlagSource: FlagSource, Service {
    private let connectionString: String
    private let logger: Logger
    private let refreshInterval: Duration
    private let fallback: any FlagSource
    private let packed = Atomic<UInt64>(0)
    private let onChange: (@Sendable (FlagSnapshot) -> Void)?
    /// How the follower's reads start: the last statement of its idle connection, by which
    /// `program-versioning status` counts the instances following the store (the app's
    /// `application_name` stays the app's).
    public static let followerQueryMarker = "/* program-versioning flag follower */"

    /// - Parameter onChange: called (on the source's task) with each new snapshot the store
    ///   shows, the first load included; for tools that watch a rollout.
    public init(
        connectionString: String, logger: Logger, refreshInterval: Duration = .seconds(5),
        fallback: any FlagSource = FixedFlagSource(.legacy), onChange: (@Sendable (FlagSnapshot) -> Void)? = nil
    ) {
        self.connectionString = connectionString
        self.logger = logger
        self.refreshInterval = refreshInterval
        self.fallback = fallback
        self.onChange = onChange
    }

    public func current() -> FlagSnapshot {
        PackedFlags.unpack(packed.load(ordering: .acquiring)) ?? fallback.current()
    }

    /// Whether the store has been read at least once.
    public var isLoaded: Bool { PackedFlags.unpack(packed.load(ordering: .acquiring)) != nil }

    /// Follows the store until the task is cancelled or the service group shuts down
    /// gracefully. Run it once.
    public func run() async {
        await cancelWhenGracefulShutdown { await self.follow() }
    }

    private func store(_ snapshot: FlagSnapshot) {
        let previous = packed.exchange(PackedFlags.pack(snapshot), ordering: .acquiringAndReleasing)
        if PackedFlags.unpack(previous) != snapshot { onChange?(snapshot) }
    }

    /// Connect, listen, read, then re-read on every notification and every interval;
    /// on any failure keep the values, log once, and start over after a short pause.
    private func follow() async {
        var failing = false
        var pause: Duration = .milliseconds(100)
        while !Task.isCancelled {
            do {
                let connection = try await PGConnection.connect(to: connectionString)
                do {
                    try await followChanges(on: connection, failing: &failing, pause: &pause)
                } catch {
                    await connection.close()
                    throw error
                }
            } catch {
                if Task.isCancelled { return }
                if !failing {
                    logger.warning("flag store unreachable; keeping the flags in force", metadata: [
                        "error": "\(error)", "flags": "\(current())",
                    ])
                    failing = true
                }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(2))
            }
        }
    }

    /// Returns only by throwing (connection lost, cancelled).
    private func followChanges(on connection: PGConnection, failing: inout Bool, pause: inout Duration) async throws {
        try await connection.listen("program_versioning_flags")
        let notifications = connection.notifications()
        // Read after LISTEN: a flip committed in between is then either read here or notified.
        try await reload(connection)
        if failing { logger.notice("flag store reachable again; following it", metadata: ["flags": "\(current())"]) }
        failing = false
        pause = .milliseconds(100)
        let interval = refreshInterval
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in notifications { try await self.reload(connection) }
                throw PGError(code: .connectionClosed, message: "the flag store connection closed")
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: interval)
                    try await self.reload(connection)
                }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    private static let reloadQuery = PGQuery(unsafeSQL: followerQueryMarker + " SELECT name, enabled, percent FROM runtime_flags")

    private func reload(_ connection: PGConnection) async throws {
        let rows = try await connection.query(Self.reloadQuery)
        var writes = false, reads = false, percent = 0, legacyReadOnly = false
        for row in rows {
            let (name, enabled, share) = try row.decode((String, Bool, Int32).self)
            switch FlagName(rawValue: name) {
            case .writes?: writes = enabled
            case .reads?: reads = enabled; percent = Int(share)
            case .legacyReadOnly?: legacyReadOnly = enabled
            case nil: break
            }
        }
        store(FlagSnapshot(writes: writes, reads: reads, readPercent: percent, legacyReadOnly: legacyReadOnly))
    }
}
