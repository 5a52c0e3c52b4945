/// An error from the driver: a failed connection, a statement the server refused, a value
/// that could not be decoded, a pool that ran out of time.
///
/// It carries what an operator needs (the SQLSTATE, the server's message, the SQL text) but
/// never bind values or a password: `description` is safe to log.
public struct PGError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: new codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The connection could not be established (refused, authentication, malformed string).
        public static let connectionFailed = Code("connectionFailed")
        /// The connection was lost or closed while in use.
        public static let connectionClosed = Code("connectionClosed")
        /// The server refused a statement; `sqlState` says why.
        public static let server = Code("server")
        /// A value in a result could not be decoded into the requested Swift type.
        public static let decoding = Code("decoding")
        /// No connection became free within the pool's acquire timeout.
        public static let poolTimeout = Code("poolTimeout")
        /// The pool was closed.
        public static let poolClosed = Code("poolClosed")
        /// The server answered in a way the driver did not expect (e.g. rows from a COPY).
        public static let unexpectedResponse = Code("unexpectedResponse")
        /// The connection was lost after COMMIT (or a statement that commits on its own) was
        /// sent: the transaction may have committed or not, and nothing here can tell.
        public static let commitOutcomeUnknown = Code("commitOutcomeUnknown")
        /// The calling task was cancelled: the statement was not sent, or the server was
        /// asked to stop it and did (SQLSTATE 57014). The connection stays usable.
        public static let cancelled = Code("cancelled")
        /// The statement's own timeout (`query(_:timeout:)`) passed and the server stopped it.
        /// The connection stays usable.
        public static let timedOut = Code("timedOut")
    }

    /// The kind of failure.
    public var code: Code
    /// The driver's or libpq's message, with any password removed.
    public var message: String
    /// The five-character SQLSTATE the server sent (e.g. `23505`), when it sent one.
    public var sqlState: String?
    /// The server's primary message, when the server refused a statement.
    public var serverMessage: String?
    /// The server's DETAIL line. It may quote data values, so `description` leaves it out.
    public var detail: String?
    /// The server's HINT line.
    public var hint: String?
    /// The SQL text (never its bind values) of the statement that failed.
    public var query: String?

    /// Creates an error.
    public init(
        code: Code, message: String, sqlState: String? = nil, serverMessage: String? = nil,
        detail: String? = nil, hint: String? = nil, query: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.serverMessage = serverMessage
        self.detail = detail
        self.hint = hint
        self.query = query
    }

    /// A one-line summary, safe to log: no bind values, no password, no DETAIL.
    public var description: String {
        var parts = ["PGError(code: \(code)"]
        if let sqlState { parts.append("sqlState: \(sqlState)") }
        parts.append("message: \(message)")
        if let query { parts.append("query: \(query.trimmingWhitespace.prefix(200))") }
        return parts.joined(separator: ", ") + ")"
    }

    /// True when the error means the connection is unusable and must be discarded.
    public var isConnectionLoss: Bool {
        code == .connectionClosed || code == .connectionFailed || code == .commitOutcomeUnknown
            || sqlState.map { $0.hasPrefix("08") || $0 == "57P01" || $0 == "57P02" || $0 == "57P03" } == true
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }
}
