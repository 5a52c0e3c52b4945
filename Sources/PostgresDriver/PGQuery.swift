/// A SQL statement and its bind values.
///
/// Write queries as string literals with interpolations: every `\(value)` becomes a `$n`
/// placeholder and `value` travels separately as a bind parameter, so data never becomes
/// SQL text.
///
/// ```swift
/// let rows = try await pool.query("SELECT name FROM programs WHERE id = \(programID)")
/// ```
///
/// SQL assembled at run time needs `init(unsafeSQL:binds:)`, whose name says what it risks.
public struct PGQuery: Sendable, ExpressibleByStringInterpolation {
    /// The SQL text with `$1 ... $n` placeholders.
    public var sql: String
    /// The values for the placeholders, in order.
    public var binds: [PGBind]
    /// Set by `prepared(as:)`: the name the statement is prepared under on each connection.
    public private(set) var preparedName: String?

    /// A query whose SQL was built at run time. The caller vouches that no data went into `sql`.
    public init(unsafeSQL sql: String, binds: [PGBind] = []) {
        self.sql = sql
        self.binds = binds
    }

    /// The same statement, prepared once per connection under `name` and executed by name
    /// from then on: the server parses and plans it once instead of every time, which is
    /// most of the cost of a short statement with a long text. For statements an app runs
    /// on every request; each name must always stand for the same SQL text and bind types.
    public func prepared(as name: StaticString) -> PGQuery {
        var query = self
        query.preparedName = "\(name)"
        return query
    }

    /// A literal query without binds.
    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    /// A literal query whose interpolations became binds.
    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    /// Turns each interpolation into a `$n` placeholder plus a bind.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [PGBind] = []

        /// Reserves room for the literal parts.
        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        /// Appends literal SQL text from the source code.
        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Appends a bind parameter.
        public mutating func appendInterpolation(_ value: some PGEncodable) {
            binds.append(value.postgresBind)
            sql += "$\(binds.count)"
        }

        /// Appends a bind parameter that may be NULL.
        public mutating func appendInterpolation<Value: PGEncodable>(_ value: Value?) {
            binds.append(value?.postgresBind ?? .null)
            sql += "$\(binds.count)"
        }
    }
}
