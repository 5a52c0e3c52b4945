import CLibPQ

/// The libpq `PGconn`, touched only on its connection's thread.
///
/// Each method is a blocking libpq sequence; `PGConnection` calls them through
/// `ConnectionThread.run`. Every `PGresult` obtained here is either wrapped in a
/// `PGResult` (which clears it once) or cleared before the method returns.
final class ConnectionHandle: @unchecked Sendable {
    // @unchecked: `connection` and `prepared` are read and written only on the owning ConnectionThread.
    private var connection: OpaquePointer?
    /// Statements prepared on this connection: name -> SQL text. A new connection (after a
    /// reconnect too) starts empty and prepares again.
    private var prepared: [String: String] = [:]

    init(_ connection: OpaquePointer) {
        self.connection = connection
    }

    func finish() {
        if let connection { PQfinish(connection) }
        connection = nil
    }

    func live() throws(PGError) -> OpaquePointer {
        guard let connection else { throw PGError(code: .connectionClosed, message: "the connection was closed") }
        return connection
    }

    func currentState() -> ConnectionState {
        guard let connection else { return .closed }
        if PQstatus(connection) != CONNECTION_OK { return .broken }
        switch PQtransactionStatus(connection) {
        case PQTRANS_IDLE: return .idle
        case PQTRANS_INTRANS, PQTRANS_INERROR: return .inTransaction
        default: return .broken
        }
    }

    /// One statement through the extended protocol: parse, bind, execute in one round trip.
    func execute(_ query: PGQuery) throws(PGError) -> PGResult {
        let connection = try live()
        let binds = query.binds
        let count = binds.count
        var types = [Oid](repeating: 0, count: count)
        var lengths = [Int32](repeating: 0, count: count)
        var formats = [Int32](repeating: 0, count: count)
        // All values in one buffer; a text-format value gets a trailing NUL as libpq expects.
        var storage = [UInt8]()
        var offsets = [Int?](repeating: nil, count: count)
        for (index, bind) in binds.enumerated() {
            types[index] = Oid(bind.typeOID)
            formats[index] = bind.format.rawValue
            guard let bytes = bind.bytes else { continue }
            offsets[index] = storage.count
            lengths[index] = Int32(bytes.count)
            storage.append(contentsOf: bytes)
            if bind.format == .text { storage.append(0) }
        }
        storage.append(0)  // never empty, so baseAddress exists
        if let name = query.preparedName {
            try prepare(name, query.sql, types: types, on: connection)
        }
        let raw = storage.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            let values: [UnsafePointer<CChar>?] = offsets.map { offset in offset.map { base + $0 } }
            if let name = query.preparedName {
                return PQexecPrepared(connection, name, Int32(count), values, lengths, formats, 1)
            }
            return PQexecParams(connection, query.sql, Int32(count), types, values, lengths, formats, 1)
        }
        do {
            return try checked(raw, connection: connection, sql: query.sql)
        } catch {
            // The server forgot it (DISCARD ALL) or cannot reuse its plan (the schema changed
            // under it): prepare it anew next time.
            if let name = query.preparedName, error.sqlState == "26000" || error.sqlState == "0A000" {
                prepared.removeValue(forKey: name)
            }
            throw error
        }
    }

    /// Prepares `sql` under `name` unless this connection already has it.
    private func prepare(_ name: String, _ sql: String, types: [Oid], on connection: OpaquePointer) throws(PGError) {
        if let known = prepared[name] {
            guard known == sql else {
                throw PGError(code: .unexpectedResponse, message: "the prepared statement name \(name) stands for another statement", query: sql)
            }
            return
        }
        do {
            _ = try checked(PQprepare(connection, name, sql, Int32(types.count), types), connection: connection, sql: sql)
        } catch where error.sqlState == "42P05" {
            // The server still has it, with a plan it cannot reuse (see `execute`): replace it.
            // (`name` is a constant of the caller's code, never data.)
            _ = try checked(PQexec(connection, "DEALLOCATE \"\(name)\""), connection: connection, sql: "DEALLOCATE")
            _ = try checked(PQprepare(connection, name, sql, Int32(types.count), types), connection: connection, sql: sql)
        }
        prepared[name] = sql
    }

    /// Several statements through the simple protocol. Reads every result so the
    /// connection is ready for the next call, and reports the first error.
    func executeScript(_ sql: String) throws(PGError) {
        let connection = try live()
        guard PQsendQuery(connection, sql) == 1 else {
            throw connectionError(connection, sql: sql)
        }
        var firstError: PGError?
        while let result = PQgetResult(connection) {
            if firstError == nil {
                do throws(PGError) { _ = try checked(result, connection: connection, sql: sql) }
                catch { firstError = error }
            } else {
                PQclear(result)
            }
        }
        if let firstError { throw firstError }
    }

    /// Turns a libpq result into a `PGResult` or a `PGError` (clearing it).
    func checked(_ raw: OpaquePointer?, connection: OpaquePointer, sql: String) throws(PGError) -> PGResult {
        guard let raw else { throw connectionError(connection, sql: sql) }
        switch PQresultStatus(raw) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN, PGRES_COPY_OUT:
            return PGResult(taking: raw)
        default:
            let error = serverError(raw, connection: connection, sql: sql)
            PQclear(raw)
            throw error
        }
    }

    func serverError(_ result: OpaquePointer, connection: OpaquePointer, sql: String) -> PGError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        let primary = field("M") ?? String(cString: PQresultErrorMessage(result)).trimmingWhitespace
        let lost = PQstatus(connection) != CONNECTION_OK
        return PGError(
            code: lost && (sqlState == nil || sqlState!.hasPrefix("57P")) ? .connectionClosed : .server,
            message: primary.isEmpty ? "the statement failed" : primary,
            sqlState: sqlState, serverMessage: primary, detail: field("D"), hint: field("H"), query: sql)
    }

    func connectionError(_ connection: OpaquePointer, sql: String?) -> PGError {
        let message = String(cString: PQerrorMessage(connection)).trimmingWhitespace
        return PGError(
            code: PQstatus(connection) == CONNECTION_OK ? .unexpectedResponse : .connectionClosed,
            message: message.isEmpty ? "the connection to the server was lost" : message, query: sql)
    }

    // MARK: COPY FROM STDIN

    func beginCopy(_ query: PGQuery) throws(PGError) {
        let result = try execute(query)
        guard PQresultStatus(result.handle) == PGRES_COPY_IN else {
            throw PGError(code: .unexpectedResponse, message: "the statement is not COPY ... FROM STDIN", query: query.sql)
        }
    }

    func putCopyData(_ bytes: [UInt8]) throws(PGError) {
        let connection = try live()
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                PQputCopyData(connection, $0, Int32(buffer.count))
            }
        }
        guard status == 1 else { throw connectionError(connection, sql: "COPY") }
    }

    /// Runs a `COPY ... TO STDOUT` to its end, handing each chunk of rows to `consume` as it
    /// arrives (on this thread); returns the number of rows and the consumer's error, if it
    /// threw (the rest of the data is then read and dropped, so the connection stays usable).
    func copyOut(
        _ query: PGQuery, consume: ([UInt8]) throws -> Void
    ) throws(PGError) -> (rows: Int, consumerError: (any Error)?) {
        let result = try execute(query)
        guard PQresultStatus(result.handle) == PGRES_COPY_OUT else {
            throw PGError(code: .unexpectedResponse, message: "the statement is not COPY ... TO STDOUT", query: query.sql)
        }
        let connection = try live()
        var consumerError: (any Error)?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(connection, &buffer, 0)  // waits on this thread, never on the pool
            if length > 0, let buffer {
                if consumerError == nil {
                    do {
                        try consume(Array(UnsafeRawBufferPointer(start: buffer, count: Int(length))))
                    } catch {
                        consumerError = error
                    }
                }
                PQfreemem(buffer)
            } else if length == -1 {
                break
            } else {
                throw connectionError(connection, sql: query.sql)
            }
        }
        var rows = 0
        var firstError: PGError?
        while let raw = PQgetResult(connection) {
            do throws(PGError) {
                rows = try checked(raw, connection: connection, sql: query.sql).affectedRows
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
        return (rows, consumerError)
    }

    /// Ends the COPY; with `abortReason` the server rolls the COPY back.
    func endCopy(abortReason: String?, sql: String) throws(PGError) -> Int {
        let connection = try live()
        guard PQputCopyEnd(connection, abortReason) == 1 else { throw connectionError(connection, sql: sql) }
        var rows = 0
        var firstError: PGError?
        while let raw = PQgetResult(connection) {
            do throws(PGError) {
                let result = try checked(raw, connection: connection, sql: sql)
                rows = result.affectedRows
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
        return rows
    }

    // MARK: LISTEN / NOTIFY

    /// Reads what arrived on the socket and hands each notification to `deliver`.
    /// Returns false when the connection is gone.
    func drainNotifications(_ deliver: (PGNotification) -> Void) -> Bool {
        guard let connection else { return false }
        if PQconsumeInput(connection) == 0 { return false }
        while let notify = PQnotifies(connection) {
            deliver(PGNotification(
                channel: String(cString: notify.pointee.relname),
                payload: String(cString: notify.pointee.extra),
                backendPID: notify.pointee.be_pid))
            PQfreemem(notify)
        }
        return PQstatus(connection) == CONNECTION_OK
    }

    /// Quotes an identifier with libpq (LISTEN takes no bind parameters).
    func escapeIdentifier(_ name: String) throws(PGError) -> String {
        let connection = try live()
        guard let escaped = PQescapeIdentifier(connection, name, name.utf8.count) else {
            throw PGError(code: .unexpectedResponse, message: String(cString: PQerrorMessage(connection)).trimmingWhitespace)
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }
}
