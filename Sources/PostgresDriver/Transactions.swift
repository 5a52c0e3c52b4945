/// Transaction isolation levels.
public enum IsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

extension PGConnection {
    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws (or is
    /// cancelled and throws). A failed COMMIT throws; nothing is left half-written. A
    /// connection lost while COMMIT was on its way throws `.commitOutcomeUnknown`: the
    /// transaction may have committed, and no client can know which without asking again.
    public func transaction<T: Sendable>(
        isolation: IsolationLevel? = nil,
        _ body: (PGConnection) async throws -> T
    ) async throws -> T {
        let begin = isolation.map { "BEGIN ISOLATION LEVEL \($0.rawValue)" } ?? "BEGIN"
        try await query(PGQuery(unsafeSQL: begin))
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
                throw PGError(
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
    public func savepoint<T: Sendable>(_ name: String = "pv_savepoint", _ body: (PGConnection) async throws -> T) async throws -> T {
        let quoted = try await quotedIdentifier(name)
        try await query(PGQuery(unsafeSQL: "SAVEPOINT \(quoted)"))
        do {
            let value = try await body(self)
            try await query(PGQuery(unsafeSQL: "RELEASE SAVEPOINT \(quoted)"))
            return value
        } catch {
            // Cleanup runs even in a cancelled task.
            let handle = self.handle
            _ = try? await runTracked(stoppable: false) { () throws(PGError) in
                _ = try handle.execute(PGQuery(unsafeSQL: "ROLLBACK TO SAVEPOINT \(quoted)"))
            }
            throw error
        }
    }

    /// Rolls back, even in a cancelled task; a lost connection is left for the pool to discard.
    private func rollbackQuietly() async {
        _ = try? await rollback()
    }

    func quotedIdentifier(_ name: String) async throws(PGError) -> String {
        let handle = self.handle
        return try await runTracked { () throws(PGError) in try handle.escapeIdentifier(name) }
    }
}
