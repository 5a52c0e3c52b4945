import Foundation
import Logging
import PostgresDriver

/// One range of `backfill programs --workers N`: its batches in key order on a connection of
/// its own, paced like a single run's (the same throttle signals, its own batch sizing),
/// each batch moving the range's row and adding to the run's counts in its own transaction.
/// The run's connection keeps the backfill lock; ranges never share a program, so workers
/// never wait for each other's rows.
struct ProgramRangeWorker: Sendable {
    /// What a worker tells the run, in order.
    enum Event: Sendable {
        /// A committed batch, and the size it was asked for.
        case batch(BackfillBatchOutcome, size: Int)
        /// Why the worker waits now (nil: it works again).
        case waiting(String?)
        /// The range is walked (`stopped`: a stop was asked for first); how long it waited
        /// on throttle signals.
        case finished(worker: Int, stopped: Bool, throttled: Duration)
        case failed(worker: Int, any Error)
    }

    let range: BackfillRange
    let options: BackfillOptions
    let runID: UUID
    let ledger: BackfillLedger?
    let signals: ThrottleSignals
    /// The operator's stop (SIGINT, SIGTERM).
    let stop: StopRequest?
    /// Set by the run when another worker failed: finish the batch in hand, then stop.
    let abandon: StopRequest
    let logger: Logger

    /// Walks the range on `connection`, telling `events` what happens; never throws (a
    /// failure is an event, after which the worker has stopped).
    func run(on connection: PGConnection, events: AsyncStream<Event>.Continuation) async {
        var pacer = BatchPacer(signals: signals, fixedBatchSize: options.batchSize, options: options.throttle, stop: stop)
        do {
            // The run's bounds on every statement, as on the run's own connection.
            let stopped = try await Backfill.withRunTimeouts(options, on: connection) { connection in
                try await walk(on: connection, pacer: &pacer, events: events)
            }
            events.yield(.finished(worker: range.worker, stopped: stopped, throttled: pacer.throttled))
        } catch {
            events.yield(.failed(worker: range.worker, error))
        }
    }

    /// True when it stopped before the range's end.
    private func walk(on connection: PGConnection, pacer: inout BatchPacer, events: AsyncStream<Event>.Continuation) async throws -> Bool {
        let batch = ProgramBackfillBatch(runID: runID, dryRun: options.dryRun, userID: options.userID)
        let transaction = BatchTransaction(kind: .programs, runID: runID, dryRun: options.dryRun, connection: connection, logger: logger)
        var (cursor, deferred) = (range.cursor, range.deferred)
        while abandon.requested == nil {
            let throttledSoFar = pacer.throttled
            guard let size = try await pacer.nextBatchSize(on: connection, show: { reason in
                try await ledger?.show(throttled: reason, throttledFor: throttledSoFar, on: connection)
                events.yield(.waiting(reason))
            }) else { return true }
            let started = ContinuousClock.now
            let outcome = try await transaction.run(
                showRetry: { try await ledger?.show(throttled: $0, throttledFor: throttledSoFar, on: connection) },
                { [cursor, range] connection in
                    try await batch.run(after: cursor, within: range.keys, pageSize: size, on: connection)
                },
                commit: { [deferred, range] outcome, connection in
                    try await ledger?.advance(
                        by: outcome.counts, to: outcome.lastKey, deferred: deferred + outcome.deferred, batchSize: size,
                        range: range.worker, on: connection)
                })
            cursor = outcome.lastKey ?? cursor
            deferred += outcome.deferred
            events.yield(.batch(outcome, size: size))
            try await pacer.finished(records: outcome.scanned, took: started.duration(to: .now))
            if outcome.scanned < size { return false }
        }
        return true
    }
}
