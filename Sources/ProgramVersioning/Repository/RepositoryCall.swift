import PostgresDriver

extension PGPool {
    /// Runs `body` on a pooled connection, turning every failure into a `RepositoryError`:
    /// the app sees one error type with a clear message, never a raw driver error.
    func repositoryCall<T: Sendable>(_ body: @escaping @Sendable (PGConnection) async throws -> T) async throws(RepositoryError) -> T {
        do {
            return try await withConnection(body)
        } catch {
            throw RepositoryError(error)
        }
    }
}

extension RepositoryError {
    /// Any failure of a call as the one type the app handles, its cause kept as it was.
    init(_ error: any Error) {
        switch error {
        case let error as RepositoryError: self = error
        case let error as PGError where error.code == .cancelled: self = .cancelled
        case let error as PGError: self = .database(error)
        case is CancellationError: self = .cancelled
        default: self = .unexpected(error)
        }
    }
}

extension ContinuousClock.Instant {
    /// Nanoseconds from this instant to now, for swift-metrics timers.
    package var nanosecondsElapsed: Int64 {
        let (seconds, attoseconds) = duration(to: .now).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
