import Logging

/// A bounded pool of connections.
///
/// At most `maxConnections` are open; a caller that finds none free waits up to
/// `acquireTimeout`. A connection that was lost (server restart, `pg_terminate_backend`) or
/// returned in the middle of a transaction is closed and replaced, never handed out again.
/// `close()` refuses new work and waits for the connections in use to come back.
public actor PGPool {
    /// How the pool connects and how big it grows.
    public struct Configuration: Sendable {
        /// A libpq connection string or URI; empty means libpq's `PG*` variables and defaults.
        public var connectionString: String
        /// The most connections open at once. Default 8.
        public var maxConnections: Int
        /// How long a caller waits for a free connection before `poolTimeout`. Default 30 s.
        public var acquireTimeout: Duration
        /// The connect timeout used when the connection string sets none. Default 10 s.
        public var connectTimeout: Duration
        /// `application_name` shown in `pg_stat_activity` unless the string sets one.
        public var applicationName: String

        /// Creates a configuration with the documented defaults.
        public init(
            connectionString: String, maxConnections: Int = 8, acquireTimeout: Duration = .seconds(30),
            connectTimeout: Duration = .seconds(10), applicationName: String = "program-versioning"
        ) {
            self.connectionString = connectionString
            self.maxConnections = max(1, maxConnections)
            self.acquireTimeout = acquireTimeout
            self.connectTimeout = connectTimeout
            self.applicationName = applicationName
        }
    }

    private enum Wakeup {
        case connection(PGConnection)
        case capacityFreed
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Wakeup, any Error>
    }

    /// The pool's settings.
    public nonisolated let configuration: Configuration
    private let logger: Logger
    private var idle: [PGConnection] = []
    private var openOrOpening = 0
    private var waiters: [Waiter] = []
    private var nextWaiterID: UInt64 = 0
    private var isClosed = false
    private var drained: [CheckedContinuation<Void, Never>] = []

    /// Creates a pool; connections are opened on first use.
    public init(_ configuration: Configuration, logger: Logger = Logger(label: "PostgresDriver.pool", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs `body` with a connection for its exclusive use and returns it to the pool after.
    ///
    /// Waits for a free connection at most `checkoutTimeout` (default: the configuration's
    /// `acquireTimeout`); a task cancelled while it waits leaves the queue at once with
    /// `.cancelled`.
    public nonisolated(nonsending) func withConnection<T: Sendable>(
        checkoutTimeout: Duration? = nil,
        _ body: (PGConnection) async throws -> T
    ) async throws -> T {
        let connection = try await acquire(timeout: checkoutTimeout ?? configuration.acquireTimeout)
        do {
            let value = try await body(connection)
            await release(connection)
            return value
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Runs `body` in a transaction on one connection (see `PGConnection.transaction`).
    public nonisolated(nonsending) func transaction<T: Sendable>(
        isolation: IsolationLevel? = nil,
        _ body: (PGConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try await connection.transaction(isolation: isolation, body)
        }
    }

    /// Runs one statement on any free connection; `timeout` bounds the statement (see
    /// `PGConnection.query(_:timeout:)`), `checkoutTimeout` the wait for a connection.
    @discardableResult
    public nonisolated func query(_ query: PGQuery, timeout: Duration? = nil, checkoutTimeout: Duration? = nil) async throws -> PGResult {
        try await withConnection(checkoutTimeout: checkoutTimeout) { try await $0.query(query, timeout: timeout) }
    }

    /// Connections open right now (in use or idle), for metrics and tests.
    public var openConnectionCount: Int { openOrOpening }

    /// Callers waiting for a connection right now, for metrics and tests.
    public var waitingCount: Int { waiters.count }

    /// Refuses new work, fails waiting callers, waits for connections in use to be
    /// returned, and closes every connection.
    public func close() async {
        guard !isClosed else { return }
        isClosed = true
        for waiter in waiters {
            waiter.continuation.resume(throwing: PGError(code: .poolClosed, message: "the connection pool was closed"))
        }
        waiters.removeAll()
        let closing = idle
        idle.removeAll()
        for connection in closing { await discard(connection) }
        if openOrOpening > 0 {
            await withCheckedContinuation { drained.append($0) }
        }
    }

    func acquire(timeout: Duration) async throws -> PGConnection {
        while true {
            guard !isClosed else { throw PGError(code: .poolClosed, message: "the connection pool was closed") }
            guard !Task.isCancelled else { throw Self.cancelledWhileWaiting }
            while let connection = idle.popLast() {
                if connection.isReusable, !connection.serverHungUp { return connection }
                logger.debug("discarding a connection the server closed", metadata: ["pid": "\(connection.backendPID)"])
                await discard(connection)
            }
            if openOrOpening < configuration.maxConnections {
                openOrOpening += 1
                do {
                    return try await PGConnection.connect(
                        to: configuration.connectionString, applicationName: configuration.applicationName,
                        connectTimeout: configuration.connectTimeout, logger: logger)
                } catch {
                    openOrOpening -= 1
                    wakeOneWaiter()
                    throw error
                }
            }
            switch try await waitForConnection(timeout: timeout) {
            case .connection(let connection): return connection
            case .capacityFreed: continue
            }
        }
    }

    func release(_ connection: PGConnection) async {
        guard !isClosed, connection.isReusable else {
            await discard(connection)
            wakeOneWaiter()
            return
        }
        if !waiters.isEmpty {
            waiters.removeFirst().continuation.resume(returning: .connection(connection))
        } else {
            idle.append(connection)
        }
    }

    private func waitForConnection(timeout: Duration) async throws -> Wakeup {
        nextWaiterID += 1
        let id = nextWaiterID
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            await self?.leaveQueue(id, PGError(
                code: .poolTimeout,
                message: "no database connection became free within \(timeout) (pool size \(self?.configuration.maxConnections ?? 0))"))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.append(Waiter(id: id, continuation: continuation))
            }
        } onCancel: {
            // Runs after the waiter is queued: the hop waits for the actor, which is busy
            // queueing it until the continuation is in place.
            Task { [weak self] in await self?.leaveQueue(id, Self.cancelledWhileWaiting) }
        }
    }

    /// Takes a waiter out of the queue (timed out or cancelled) unless it was served already.
    private func leaveQueue(_ id: UInt64, _ error: PGError) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: error)
    }

    private static let cancelledWhileWaiting = PGError(code: .cancelled, message: "no connection was taken: the task was cancelled while it waited for one")

    private func wakeOneWaiter() {
        guard !waiters.isEmpty else { return }
        waiters.removeFirst().continuation.resume(returning: .capacityFreed)
    }

    private func discard(_ connection: PGConnection) async {
        openOrOpening -= 1
        await connection.close()
        if isClosed, openOrOpening == 0 {
            for continuation in drained { continuation.resume() }
            drained.removeAll()
        }
    }
}
