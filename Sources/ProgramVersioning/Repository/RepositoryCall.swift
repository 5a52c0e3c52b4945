import PostgresDriver

extension PostgresPool {
    /// Runs `body` on a pooled connection, turning every failure into a `RepositoryError`:
    /// the app sees one error type with a clear message, never a raw driver error.
    func repositoryCall<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws(RepositoryError) -> T {
        do {
            return try await withConnection(body)
        } catch let error as RepositoryError {
            throw error
        } catch let error as PostgresError {
            throw .database(error)
        } catch {
            throw .database(PostgresError(code: .server, message: "\(error)"))
        }
    }
}

extension ContinuousClock.Instant {
    /// Nanoseconds from this instant to now, for swift-metrics timers.
    var nanosecondsElapsed: Int64 {
        let (seconds, attoseconds) = duration(to: .now).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
