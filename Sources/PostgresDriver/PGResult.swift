import CLibPQ

/// The rows a statement returned, in PostgreSQL's binary format.
///
/// It owns the libpq `PGresult` and clears it exactly once, when the last reference goes.
/// A `PGresult` is immutable once built, so reading it from any thread is safe and costs
/// no copy: a row is decoded only when asked.
public final class PGResult: @unchecked Sendable, RandomAccessCollection {
    // @unchecked: the PGresult is never mutated after libpq built it (libpq documents
    // results as safe to read from several threads); only deinit frees it.
    let handle: OpaquePointer
    /// The number of rows.
    public let rowCount: Int
    /// The number of columns.
    public let columnCount: Int
    /// The rows the statement changed (from the command tag), e.g. for UPDATE or INSERT.
    public let affectedRows: Int
    /// The command tag, e.g. `INSERT 0 3`.
    public let commandTag: String
    /// Column names in order.
    public let columnNames: [String]
    let columnTypes: [UInt32]

    init(taking handle: OpaquePointer) {
        self.handle = handle
        rowCount = Int(PQntuples(handle))
        columnCount = Int(PQnfields(handle))
        commandTag = PQcmdStatus(handle).map { String(cString: $0) } ?? ""
        affectedRows = PQcmdTuples(handle).map { Int(String(cString: $0)) ?? 0 } ?? 0
        var names: [String] = []
        var types: [UInt32] = []
        names.reserveCapacity(columnCount)
        types.reserveCapacity(columnCount)
        for column in 0..<Int32(columnCount) {
            names.append(PQfname(handle, column).map { String(cString: $0) } ?? "?column?")
            types.append(UInt32(PQftype(handle, column)))
        }
        columnNames = names
        columnTypes = types
    }

    deinit { PQclear(handle) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { rowCount }

    /// The row at `index`.
    public subscript(index: Int) -> PGRow {
        PGRow(result: self, row: Int32(index))
    }

    /// The single row of a statement that must return exactly one.
    public func single() throws(PGError) -> PGRow {
        guard rowCount == 1 else {
            throw PGError(code: .unexpectedResponse, message: "expected exactly one row, got \(rowCount)")
        }
        return self[0]
    }

    @usableFromInline
    func cell(row: Int32, column: Int) -> PGCell {
        let c = Int32(column)
        let bytes: UnsafeRawBufferPointer?
        if PQgetisnull(handle, row, c) == 1 {
            bytes = nil
        } else {
            bytes = UnsafeRawBufferPointer(start: PQgetvalue(handle, row, c), count: Int(PQgetlength(handle, row, c)))
        }
        // PQftype reads the result's own column table: no Swift array (and its retain) per value.
        return PGCell(bytes: bytes, typeOID: UInt32(PQftype(handle, c)), column: column, result: self)
    }

    /// The index of the column named `name`.
    public func columnIndex(_ name: String) -> Int? {
        columnNames.firstIndex(of: name)
    }
}

/// One row of a `PGResult`.
public struct PGRow: Sendable {
    @usableFromInline let result: PGResult
    @usableFromInline let row: Int32

    /// Decodes the column at `column`. Inlinable, so a caller's decode is specialized for
    /// its types instead of going through the protocol for every value.
    @inlinable
    public func decode<T: PGDecodable>(_ type: T.Type = T.self, at column: Int) throws(PGError) -> T {
        guard column < result.columnCount else {
            throw PGError(code: .decoding, message: "column \(column) does not exist (the row has \(result.columnCount))")
        }
        // The row holds the result for as long as this call borrows the row, so the cell's
        // unowned reference stays valid without a retain of its own.
        return try T.decode(from: result.cell(row: row, column: column))
    }

    /// Decodes the column named `name`.
    public func decode<T: PGDecodable>(_ type: T.Type = T.self, named name: String) throws(PGError) -> T {
        guard let column = result.columnIndex(name) else {
            throw PGError(code: .decoding, message: "no column named \(name) in the result")
        }
        return try decode(type, at: column)
    }

    /// Decodes the leading columns as a tuple, e.g. `row.decode((UUID, String).self)`.
    @inlinable
    public func decode<each T: PGDecodable>(_ types: (repeat each T).Type) throws(PGError) -> (repeat each T) {
        var column = 0
        func next<U: PGDecodable>(_ type: U.Type) throws(PGError) -> U {
            defer { column += 1 }
            return try decode(type, at: column)
        }
        return (repeat try next((each T).self))
    }
}

/// One value of a row as it came off the wire: bytes (nil for NULL) and the column type.
/// Valid only while the result that owns it lives; decoders copy what they keep.
public struct PGCell {
    /// The binary-format value, or nil for SQL NULL.
    public let bytes: UnsafeRawBufferPointer?
    /// The column's type OID.
    public let typeOID: UInt32
    let column: Int
    // Unowned: the row keeps the result alive while a cell is decoded, and a strong
    // reference here would cost a retain and release for every value on the hot path.
    unowned(unsafe) let result: PGResult

    /// The column's name, for error messages.
    public var columnName: String { result.columnNames[column] }

    /// An error saying the column's type cannot become `type`.
    public func mismatch<T>(_ type: T.Type, _ why: String? = nil) -> PGError {
        PGError(
            code: .decoding,
            message: "cannot decode column \(columnName) (type oid \(typeOID)) as \(T.self)" + (why.map { ": \($0)" } ?? ""))
    }

    /// An error saying the column is NULL but `type` is not optional.
    public func unexpectedNull<T>(_ type: T.Type) -> PGError {
        PGError(code: .decoding, message: "column \(columnName) is NULL; decode it as \(T.self)? instead")
    }
}
