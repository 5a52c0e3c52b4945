import Foundation
import Logging
import PostgresDriver

/// One batch of a backfill as one transaction on `connection` (a dry run's always rolled
/// back): its counts checked, then `commit` writes where the run is (the run's row, or a
/// worker's range) in the same transaction. A lock wait past the lock timeout rolls it
/// back; it is tried again after 0.2, 0.4, ... 3.2 s, then the run stops (resumable) with
/// what holds it.
struct BatchTransaction {
    let kind: BackfillKind
    let runID: UUID
    let dryRun: Bool
    let connection: PGConnection
    let logger: Logger

    func run(
        showRetry: (String) async throws -> Void,
        _ body: (PGConnection) async throws -> BackfillBatchOutcome,
        commit: (BackfillBatchOutcome, PGConnection) async throws -> Void
    ) async throws -> BackfillBatchOutcome {
        var pause: Duration = .milliseconds(200)
        for attempt in 1... {
            do {
                return try await transaction { connection in
                    let outcome = try await body(connection)
                    guard outcome.counts.addsUp(for: kind) else { throw BackfillError.countsDoNotAddUp(runID: runID, outcome.counts) }
                    try await commit(outcome, connection)
                    return outcome
                }
            } catch let error as PGError where Self.isLockWait(error) {
                guard attempt < 5 else { throw BackfillError.lockNotGranted(runID: runID, attempts: attempt, error.message) }
                logger.notice("a batch waited too long for a lock; rolled back, trying again", metadata: [
                    "run": "\(runID)", "attempt": "\(attempt)", "error": "\(error.message)",
                ])
                try await showRetry("a lock was not granted within the lock timeout; trying again (attempt \(attempt + 1))")
                try await Task.sleep(for: pause)
                pause *= 2
            }
        }
        fatalError("unreachable: the loop returns or throws")
    }

    /// lock_not_available, deadlock_detected, serialization_failure: worth a second try.
    private static func isLockWait(_ error: PGError) -> Bool {
        ["55P03", "40P01", "40001"].contains(error.sqlState ?? "")
    }

    /// A batch's transaction; a dry run's is always rolled back (belt and braces: a dry
    /// batch sends no writing statement that could change a row).
    private func transaction<T: Sendable>(_ body: (PGConnection) async throws -> T) async throws -> T {
        guard dryRun else { return try await connection.transaction(body) }
        try await connection.query("BEGIN")
        do {
            let value = try await body(connection)
            try await connection.rollback()
            return value
        } catch {
            _ = try? await connection.rollback()
            throw error
        }
    }
}
