/// Transaction isolation levels.
public enum IsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

extension PostgresConnection {
    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws (or is
    /// cancelled and throws). A failed COMMIT throws; nothing is left half-written. A
    /// connection lost while COMMIT was on its way throws `.commitOutcomeUnknown`: the
    /// transaction may have committed, and no client can know which without asking again.
    public func transaction<T: Sendable>(
        isolation: IsolationLevel? = nil,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let begin = isolation.map { "BEGIN ISOLATION LEVEL \($0.rawValue)" } ?? "BEGIN"
        try await query(PostgresQuery(unsafeSQL: begin))
        let value: T
        do {
            value = try await body(self)
        } catch {
            await rollbackQuietly()
            throw error
        }
        do {
            try await query("COMMIT")
        } catch {
            if error.isConnectionLoss {
                throw PostgresError(
                    code: .commitOutcomeUnknown,
                    message: "the connection was lost while COMMIT was on its way (\(error.message)): the transaction may or may not have committed",
                    sqlState: error.sqlState, query: "COMMIT")
            }
            await rollbackQuietly()
            throw error
        }
        return value
    }

    /// Runs `body` inside a savepoint of the current transaction: on error only the work
    /// since the savepoint is undone and the error rethrown.
    public func savepoint<T: Sendable>(_ name: String = "pv_savepoint", _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let quoted = try await quotedIdentifier(name)
        try await query(PostgresQuery(unsafeSQL: "SAVEPOINT \(quoted)"))
        do {
            let value = try await body(self)
            try await query(PostgresQuery(unsafeSQL: "RELEASE SAVEPOINT \(quoted)"))
            return value
        } catch {
            _ = try? await query(PostgresQuery(unsafeSQL: "ROLLBACK TO SAVEPOINT \(quoted)"))
            throw error
        }
    }

    /// Rolls back; a lost connection is left for the pool to discard.
    private func rollbackQuietly() async {
        _ = try? await query("ROLLBACK")
    }

    func quotedIdentifier(_ name: String) async throws(PostgresError) -> String {
        let handle = self.handle
        return try await runTracked { () throws(PostgresError) in try handle.escapeIdentifier(name) }
    }
}
