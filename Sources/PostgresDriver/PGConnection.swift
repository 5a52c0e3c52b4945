#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLibPQ
import Dispatch
import Logging
import Synchronization

/// One connection to PostgreSQL over libpq.
///
/// Every libpq call runs on the connection's own thread (`ConnectionThread`), never on
/// Swift's cooperative pool, so awaiting a query suspends a task without blocking a thread.
/// Calls from several tasks are serialized; use a `PGPool` for concurrency, and
/// `close()` a connection you opened yourself.
public final class PGConnection: Sendable {
    let thread: ConnectionThread
    let handle: ConnectionHandle
    /// The socket, for the pool's cheap "did the server hang up?" check while idle.
    let socket: Int32
    /// The server process id, e.g. for `pg_terminate_backend` or log correlation.
    public let backendPID: Int32
    let logger: Logger
    /// How a cancelled task stops the statement it waits for (nil if libpq had no memory for it).
    private let serverCancel: ServerCancel?
    private let state: Atomic<UInt8>
    private let notificationSink = Mutex<AsyncStream<PGNotification>.Continuation?>(nil)

    private init(thread: ConnectionThread, handle: ConnectionHandle, serverCancel: ServerCancel?, socket: Int32, backendPID: Int32, logger: Logger) {
        self.thread = thread
        self.handle = handle
        self.serverCancel = serverCancel
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
        logger: Logger = Logger(label: "PostgresDriver", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws(PGError) -> PGConnection {
        let thread = try ConnectionThread(name: "libpq")
        let seconds = max(2, Int(connectTimeout.components.seconds))
        let opened: (ConnectionHandle, ServerCancel?, Int32, Int32)
        do {
            opened = try await thread.run { () throws(PGError) in
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
                    throw PGError(code: .connectionFailed, message: "libpq could not allocate a connection")
                }
                guard PQstatus(connection) == CONNECTION_OK else {
                    let message = String(cString: PQerrorMessage(connection)).trimmingWhitespace
                    PQfinish(connection)
                    throw PGError(
                        code: .connectionFailed,
                        message: ConnectionString.redact(message, connectionString: connectionString))
                }
                PQsetNoticeProcessor(connection, ignoreNotice, nil)
                return (ConnectionHandle(connection), ServerCancel(connection), PQsocket(connection), PQbackendPID(connection))
            }
        } catch {
            thread.stop()
            throw error
        }
        return PGConnection(thread: thread, handle: opened.0, serverCancel: opened.1, socket: opened.2, backendPID: opened.3, logger: logger)
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
    ///
    /// If the calling task is cancelled, a statement not yet sent is never sent and a
    /// running one is cancelled on the server; either way this throws `.cancelled` and the
    /// connection stays usable (in a transaction, the transaction is then aborted).
    /// With `timeout`, the server is asked to stop the statement once it passes
    /// (`.timedOut`), as `statement_timeout` would, without changing the session.
    @discardableResult
    public func query(_ query: PGQuery, timeout: Duration? = nil) async throws(PGError) -> PGResult {
        let handle = self.handle
        return try await runTracked(timeout: timeout) { () throws(PGError) in try handle.execute(query) }
    }

    /// Rolls back the open transaction, if any. Runs even in a cancelled task: it is how a
    /// cancelled task cleans up.
    public func rollback() async throws(PGError) {
        let handle = self.handle
        try await runTracked(stoppable: false) { () throws(PGError) in _ = try handle.execute("ROLLBACK") }
    }

    /// Runs SQL text that may hold several statements (a migration file), without binds.
    /// The statements run in the simple query protocol; results are discarded.
    public func executeScript(unsafeSQL sql: String) async throws(PGError) {
        let handle = self.handle
        try await runTracked { () throws(PGError) in try handle.executeScript(sql) }
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
    ///
    /// A stoppable call ends early when its task is cancelled or its `timeout` passes (see
    /// `query(_:timeout:)`); cleanup (ROLLBACK, aborting a COPY) is not stoppable, so a
    /// cancelled task can still leave the connection clean.
    func runTracked<T: Sendable>(
        stoppable: Bool = true, timeout: Duration? = nil, _ body: @escaping @Sendable () throws(PGError) -> T
    ) async throws(PGError) -> T {
        guard ConnectionState(rawValue: state.load(ordering: .acquiring)) != .closed else {
            throw PGError(code: .connectionClosed, message: "the connection was closed")
        }
        guard stoppable else { return try await thread.run { [self] () throws(PGError) -> T in try tracked(body) } }
        let stop = StatementStop(serverCancel)
        let timer = timeout.map { timeout in
            let timer = DispatchWorkItem { stop.stop(.timedOut) }
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: timeout.totalNanoseconds)), execute: timer)
            return timer
        }
        defer { timer?.cancel() }
        let result: Result<T, PGError> = await withTaskCancellationHandler {
            do throws(PGError) {
                return .success(try await thread.run { [self] () throws(PGError) -> T in
                    guard stop.start() else { throw Self.stopped(stop.stopReason, sent: false, timeout: timeout) }
                    let result: Result<T, PGError>
                    do throws(PGError) { result = .success(try tracked(body)) } catch { result = .failure(error) }
                    // Waits until a cancel request in flight has reached the server, so that
                    // it cannot stop the next statement on this connection.
                    let cancelSent = stop.finish()
                    if cancelSent, case .failure(let error) = result, error.sqlState == "57014" {
                        throw Self.stopped(stop.stopReason, sent: true, timeout: timeout)
                    }
                    return try result.get()
                })
            } catch {
                return .failure(error)
            }
        } onCancel: {
            stop.stop(.taskCancelled)
        }
        return try result.get()
    }

    /// Runs `body` (on the thread) and records the connection's state after it.
    private func tracked<T>(_ body: () throws(PGError) -> T) throws(PGError) -> T {
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

    /// The error of a stopped call: why it stopped, and whether it reached the server.
    private static func stopped(_ reason: StopReason?, sent: Bool, timeout: Duration?) -> PGError {
        switch (reason == .timedOut, sent) {
        case (true, true):
            PGError(code: .timedOut, message: "the server stopped the statement: it ran past its timeout of \(timeout ?? .zero)", sqlState: "57014")
        case (true, false):
            PGError(code: .timedOut, message: "the statement was not sent: its timeout of \(timeout ?? .zero) passed while it waited for the connection")
        case (false, true):
            PGError(code: .cancelled, message: "the server stopped the statement: its task was cancelled", sqlState: "57014")
        case (false, false):
            PGError(code: .cancelled, message: "the statement was not sent: its task was cancelled")
        }
    }

    func notificationContinuation() -> AsyncStream<PGNotification>.Continuation? {
        notificationSink.withLock { $0 }
    }

    func setNotificationContinuation(_ continuation: AsyncStream<PGNotification>.Continuation) -> Bool {
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
