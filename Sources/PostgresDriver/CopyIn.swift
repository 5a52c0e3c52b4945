/// Streams rows into `COPY ... FROM STDIN` (text format), in chunks.
///
/// Values are escaped for COPY's text format (not SQL), so any string is stored verbatim.
public final class PGCopyWriter {
    private let connection: PGConnection
    private var buffer: [UInt8] = []
    private let chunkSize: Int

    init(connection: PGConnection, chunkSize: Int) {
        self.connection = connection
        self.chunkSize = chunkSize
        buffer.reserveCapacity(chunkSize + 4096)
    }

    /// Appends one row; nil is SQL NULL. Sends a chunk to the server when enough is buffered.
    public func write(row fields: [String?]) async throws(PGError) {
        for (index, field) in fields.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: "\t")) }
            appendField(field)
        }
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= chunkSize { try await flush() }
    }

    /// Appends rows already in COPY text format (escaped fields, tabs between them, each
    /// row ending in a newline), e.g. relayed from a file.
    public func write(encodedRows bytes: some Collection<UInt8>) async throws(PGError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= chunkSize { try await flush() }
    }

    private func appendField(_ field: String?) {
        guard let field else {
            buffer.append(UInt8(ascii: "\\"))
            buffer.append(UInt8(ascii: "N"))
            return
        }
        for byte in field.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\")); buffer.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\t"): buffer.append(UInt8(ascii: "\\")); buffer.append(UInt8(ascii: "t"))
            case UInt8(ascii: "\n"): buffer.append(UInt8(ascii: "\\")); buffer.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): buffer.append(UInt8(ascii: "\\")); buffer.append(UInt8(ascii: "r"))
            default: buffer.append(byte)
            }
        }
    }

    func flush() async throws(PGError) {
        guard !buffer.isEmpty else { return }
        let chunk = buffer
        buffer.removeAll(keepingCapacity: true)
        let handle = connection.handle
        try await connection.runTracked { () throws(PGError) in try handle.putCopyData(chunk) }
    }
}

extension PGConnection {
    /// Runs `COPY table (columns) FROM STDIN` and feeds it the rows `produce` writes.
    /// Returns the number of rows copied. If `produce` throws, the COPY is aborted (the server
    /// stores none of its rows) and the error is rethrown.
    @discardableResult
    public func copyFrom(
        _ copyStatement: PGQuery,
        chunkSize: Int = 256 * 1024,
        _ produce: (PGCopyWriter) async throws -> Void
    ) async throws -> Int {
        let handle = self.handle
        let sql = copyStatement.sql
        try await runTracked { () throws(PGError) in try handle.beginCopy(copyStatement) }
        let writer = PGCopyWriter(connection: self, chunkSize: chunkSize)
        do {
            try await produce(writer)
            try await writer.flush()
        } catch {
            // Cleanup runs even in a cancelled task: the server must drop the COPY's rows.
            _ = try? await runTracked(stoppable: false) { () throws(PGError) in
                try handle.endCopy(abortReason: "aborted by the client: \(error)", sql: sql)
            }
            throw error
        }
        return try await runTracked { () throws(PGError) in try handle.endCopy(abortReason: nil, sql: sql) }
    }
}
