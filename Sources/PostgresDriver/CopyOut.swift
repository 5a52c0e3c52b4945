extension PGConnection {
    /// Runs `COPY ... TO STDOUT` (text format unless the statement says otherwise) and hands
    /// its bytes to `consume` in the chunks libpq delivers (whole rows each). Returns the
    /// number of rows.
    ///
    /// `consume` runs on the connection's own thread, not on Swift's cooperative pool, so it
    /// may block, e.g. to write a file. If it throws, the rest of the data is drained (the
    /// connection stays usable) and its error is rethrown.
    @discardableResult
    public func copyTo(_ copyStatement: PGQuery, _ consume: @escaping @Sendable ([UInt8]) throws -> Void) async throws -> Int {
        let handle = self.handle
        let (rows, consumerError) = try await runTracked { () throws(PGError) in
            try handle.copyOut(copyStatement, consume: consume)
        }
        if let consumerError { throw consumerError }
        return rows
    }
}
