import Foundation
import PostgresDriver
import RuntimeFlags

/// The programs a `check --repair` names, and the check run that named them.
struct BackfillRepairList {
    /// Each once, in key order.
    var programIDs: [UUID]
    var checkRunID: UUID
}

extension Backfill {
    /// `check --repair`: gives each of `programIDs` (found MISSING_VERSION or STALE_VERSION)
    /// its next version from its legacy JSON through the backfill's own run (locked, read
    /// again, written with COPY, or reported; counts and reports checked at the end), as a
    /// backfill run of its own whose options name the check run and which nothing resumes.
    /// Refused while READS is on: a version written now would be served at once, and a
    /// repair should be looked at before that.
    public func repair(programIDs: [UUID], checkRunID: UUID) async throws(BackfillError) -> BackfillSummary {
        var runID: UUID?
        do {
            return try await withLock { connection in
                guard try await !FlagStore(pool: pool).snapshot().reads else { throw BackfillError.readsOn }
                let list = BackfillRepairList(
                    programIDs: Set(programIDs).sorted { $0.uuidString < $1.uuidString }, checkRunID: checkRunID)
                return try await runLocked(
                    .programs, options: BackfillOptions(batchSize: 1_000, allowWritesOff: true), repair: list, on: connection,
                    progress: { _ in }, announce: { runID = $0 })
            }
        } catch {
            throw BackfillError(error, runID: runID)
        }
    }
}
