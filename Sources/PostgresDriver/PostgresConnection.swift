#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLibPQ
import Logging
import Synchronization

/// One connection to PostgreSQL over libpq.
///
/// Every libpq call runs on the connection's own thread (`ConnectionThread`), never on
/// Swift's cooperative pool, so awaiting a query suspends a task without blocking a thread.
/// Calls from several tasks are serialized; use a `PostgresPool` for concurrency, and
/// `close()` a connection you opened yourself.
public final class PostgresConnection: Sendable {
    let thread: ConnectionThread
    let handle: ConnectionHandle
    /// The socket, for the pool's cheap "did the server hang up?" check while idle.
    let socket: Int32
    /// The server process id, e.g. for `pg_terminate_backend` or log correlation.
    public let backendPID: Int32
    let logger: Logger
    private let state: Atomic<UInt8>
    private let notificationSink = Mutex<AsyncStream<PostgresNotification>.Continuation?>(nil)

    private init(thread: ConnectionThread, handle: ConnectionHandle, socket: Int32, backendPID: Int32, logger: Logger) {
        self.thread = thread
        self.handle = handle
        self.socket = socket
        self.backendPID = backendPID
        self.logger = logger
        self.state = Atomic(ConnectionState.idle.rawValue)
    }

    /// Opens a connection from a libpq connection string or URI. An empty string uses
    /// libpq's own `PG*` environment variables and defaults.
    ///
    /// `connectTimeout` applies when the string does not set `connect_timeout` itself.
    public static func connect(
        to connectionString: String,
        applicationName: String = "program-versioning",
        connectTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "PostgresDriver")
    ) async throws(PostgresError) -> PostgresConnection {
        let thread = try ConnectionThread(name: "libpq")
        let seconds = max(2, Int(connectTimeout.components.seconds))
        let opened: (ConnectionHandle, Int32, Int32)
        do {
            opened = try await thread.run { () throws(PostgresError) in
                // Later parameters override earlier ones, and the expanded connection string
                // comes last, so whatever the operator wrote wins over these defaults.
                let keywords = ["connect_timeout", "fallback_application_name", "dbname"]
                let values = [String(seconds), applicationName, connectionString]
                let connection = withCStringArray(keywords) { keywordPointers in
                    withCStringArray(values) { valuePointers in
                        PQconnectdbParams(keywordPointers, valuePointers, 1)
                    }
                }
                guard let connection else {
                    throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
                }
                guard PQstatus(connection) == CONNECTION_OK else {
                    let message = String(cString: PQerrorMessage(connection)).trimmingWhitespace
                    PQfinish(connection)
                    throw PostgresError(
                        code: .connectionFailed,
                        message: ConnectionString.redact(message, connectionString: connectionString))
                }
                PQsetNoticeProcessor(connection, ignoreNotice, nil)
                return (ConnectionHandle(connection), PQsocket(connection), PQbackendPID(connection))
            }
        } catch {
            thread.stop()
            throw error
        }
        return PostgresConnection(thread: thread, handle: opened.0, socket: opened.1, backendPID: opened.2, logger: logger)
    }

    deinit {
        // A connection dropped without close() still releases its socket and thread.
        if ConnectionState(rawValue: state.load(ordering: .acquiring)) != .closed {
            let handle = self.handle
            thread.submit { handle.finish() }
            thread.stop()
        }
    }

    /// The connection's own thread as a task executor. Code that runs many statements in a
    /// row on one connection can run there with
    /// `withTaskExecutorPreference(connection.executor) { ... }`: each statement then costs
    /// no thread hop. Only libpq calls of this connection should run there; other blocking
    /// work would delay them.
    public var executor: any TaskExecutor { thread }

    /// Closes the connection and stops its thread. Safe to call more than once.
    public func close() async {
        let previous = state.exchange(ConnectionState.closed.rawValue, ordering: .acquiringAndReleasing)
        guard ConnectionState(rawValue: previous) != .closed else { return }
        let handle = self.handle
        _ = try? await thread.run { handle.finish() }
        thread.stop()
        notificationSink.withLock { $0?.finish() }
    }

    /// Runs one statement with its binds and returns its rows (binary format).
    @discardableResult
    public func query(_ query: PostgresQuery) async throws(PostgresError) -> PostgresResult {
        let handle = self.handle
        return try await runTracked { () throws(PostgresError) in try handle.execute(query) }
    }

    /// Runs SQL text that may hold several statements (a migration file), without binds.
    /// The statements run in the simple query protocol; results are discarded.
    public func executeScript(unsafeSQL sql: String) async throws(PostgresError) {
        let handle = self.handle
        try await runTracked { () throws(PostgresError) in try handle.executeScript(sql) }
    }

    /// True when the connection has not been closed, was not lost, and is not in a
    /// transaction: the pool only reuses such connections.
    var isReusable: Bool {
        ConnectionState(rawValue: state.load(ordering: .acquiring)) == .idle
    }

    /// A non-blocking check that the server has not hung up while the connection sat idle:
    /// an idle connection's socket has nothing to read unless the server closed it or sent a
    /// termination message.
    var serverHungUp: Bool {
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) != 0
    }

    /// Runs `body` on the thread and records the connection's state afterwards.
    func runTracked<T: Sendable>(_ body: @escaping @Sendable () throws(PostgresError) -> T) async throws(PostgresError) -> T {
        guard ConnectionState(rawValue: state.load(ordering: .acquiring)) != .closed else {
            throw PostgresError(code: .connectionClosed, message: "the connection was closed")
        }
        let handle = self.handle
        return try await thread.run { [self] () throws(PostgresError) -> T in
            defer {
                let now = handle.currentState()
                // Never resurrect a connection that close() already marked closed.
                var current = state.load(ordering: .relaxed)
                while current != ConnectionState.closed.rawValue {
                    let (exchanged, original) = state.compareExchange(
                        expected: current, desired: now.rawValue, ordering: .acquiringAndReleasing)
                    if exchanged { break }
                    current = original
                }
            }
            return try body()
        }
    }

    func notificationContinuation() -> AsyncStream<PostgresNotification>.Continuation? {
        notificationSink.withLock { $0 }
    }

    func setNotificationContinuation(_ continuation: AsyncStream<PostgresNotification>.Continuation) -> Bool {
        notificationSink.withLock { sink in
            guard sink == nil else { return false }
            sink = continuation
            return true
        }
    }
}

/// What the pool needs to know about a connection after each call.
enum ConnectionState: UInt8 {
    case idle, inTransaction, broken, closed
}

/// libpq prints NOTICE messages to stderr by default; the CLI's stderr is for errors only.
private let ignoreNotice: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void = { _, _ in }

/// Builds a NULL-terminated array of C strings that lives for the duration of `body`.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicated = strings.map { strdup($0) }
    defer { duplicated.forEach { free($0) } }
    var pointers = duplicated.map { UnsafePointer<CChar>($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
