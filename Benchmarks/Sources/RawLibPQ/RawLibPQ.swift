import CLibPQBench

/// A blocking libpq connection used as the benchmarks' limit: what the C library costs
/// with no Swift concurrency, no thread hop and no decoding layer in between.
public final class RawConnection {
    private let connection: OpaquePointer

    /// Connects or returns nil (the benchmark then reports the error).
    public init?(_ connectionString: String) {
        guard let connection = PQconnectdb(connectionString), PQstatus(connection) == CONNECTION_OK else { return nil }
        self.connection = connection
    }

    deinit { PQfinish(connection) }

    /// One round trip of `SELECT 1` through the extended protocol with binary results, as
    /// the driver sends it. Returns the value so the work cannot be optimised away.
    public func selectOne() -> Int32 {
        let result = PQexecParams(connection, "SELECT 1", 0, nil, nil, nil, nil, 1)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK, let value = PQgetvalue(result, 0, 0) else { return -1 }
        return UnsafeRawPointer(value).loadUnaligned(as: Int32.self).bigEndian
    }

    /// Fetches `rows` rows of (int8, text) and reads every value, as the driver's decoding does.
    public func fetch(rows: Int) -> Int {
        let sql = "SELECT g::int8, 'exercise ' || g FROM generate_series(1, \(rows)) g"
        let result = PQexecParams(connection, sql, 0, nil, nil, nil, nil, 1)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_TUPLES_OK else { return -1 }
        var checksum = 0
        for row in 0..<PQntuples(result) {
            let number = UnsafeRawPointer(PQgetvalue(result, row, 0)!).loadUnaligned(as: Int64.self).bigEndian
            let length = Int(PQgetlength(result, row, 1))
            let text = String(decoding: UnsafeRawBufferPointer(start: PQgetvalue(result, row, 1), count: length), as: UTF8.self)
            checksum &+= Int(number) &+ text.utf8.count
        }
        return checksum
    }
}
