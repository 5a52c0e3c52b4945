import Foundation
import PostgresDriver
import RuntimeFlags

extension Backfill {
    /// `check --repair`: gives each of `programIDs` (found MISSING_VERSION or STALE_VERSION)
    /// its next version from its legacy JSON through the backfill's own write path (locked,
    /// read again, written with COPY, or reported), as a backfill run of its own whose
    /// options name the check run. Refused while READS is on: a version written now would be
    /// served at once, and a repair should be looked at before that.
    public func repair(programIDs: [UUID], checkRunID: UUID) async throws(BackfillError) -> BackfillSummary {
        var runID: UUID?
        do {
            return try await withLock { connection in
                guard try await !FlagStore(pool: pool).snapshot().reads else { throw BackfillError.readsOn }
                let startedAt = Date()
                let options = BackfillOptions(batchSize: 1_000, allowWritesOff: true)
                let before = try await BackfillAudit.counts(userID: nil, on: connection)
                let ledger = try await BackfillLedger.open(
                    .programs, options: options, countsBefore: before, repairOfCheck: checkRunID, on: connection)
                runID = ledger.runID
                var reports: [BackfillReport] = []
                do {
                    let batch = ProgramBackfillBatch(runID: ledger.runID, dryRun: false, userID: nil)
                    for chunk in Array(Set(programIDs)).sorted(by: { $0.uuidString < $1.uuidString }).chunked(by: options.batchSize) {
                        let outcome = try await connection.transaction { connection in
                            var outcome = BackfillBatchOutcome()
                            try await batch.migrate(Array(chunk), into: &outcome, on: connection)
                            guard outcome.counts.addsUp(for: .programs) else {
                                throw BackfillError.countsDoNotAddUp(runID: ledger.runID, outcome.counts)
                            }
                            try await ledger.advance(by: outcome.counts, to: chunk[chunk.endIndex - 1], on: connection)
                            return outcome
                        }
                        reports += outcome.reports
                    }
                    let after = try await BackfillAudit.counts(userID: nil, on: connection)
                    let audit = BackfillAudit(
                        before: before, after: after, invalidLinks: try await BackfillAudit.invalidLinks(userID: nil, on: connection))
                    let counts = try await ledger.finish(status: "SUCCEEDED", countsAfter: after, error: nil, on: connection)
                    return BackfillSummary(
                        runID: ledger.runID, kind: .programs, dryRun: false, resumed: false, counts: counts, status: "SUCCEEDED",
                        startedAt: startedAt, finishedAt: Date(), audit: audit, reports: Array(reports.prefix(1_000)),
                        reportsByReason: Dictionary(reports.map { ($0.reason, 1) }, uniquingKeysWith: +), backup: nil)
                } catch {
                    _ = try? await ledger.finish(status: "FAILED", countsAfter: nil, error: "\(error)", on: connection)
                    throw error
                }
            }
        } catch {
            throw BackfillError(error, runID: runID)
        }
    }
}

extension Array {
    func chunked(by size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min(count, $0 + size)] }
    }
}
