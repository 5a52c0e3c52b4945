#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLibPQ
import Dispatch
import Foundation
import Synchronization

/// libpq's cancel request for one connection (`PGcancel`). `PQcancel` opens a second
/// connection to the server and asks it to stop whatever the first one runs; libpq makes it
/// safe to call from any thread while the connection's own thread waits for its result.
final class ServerCancel: @unchecked Sendable {
    // @unchecked: the PGcancel is only read by PQcancel (thread-safe by libpq's contract)
    // and freed in deinit, when nothing else can hold it.
    private let cancel: OpaquePointer

    init?(_ connection: OpaquePointer) {
        guard let cancel = PQgetCancel(connection) else { return nil }
        self.cancel = cancel
    }

    deinit { PQfreeCancel(cancel) }

    /// Blocks until the server took the request (it connects and waits for the server to
    /// hang up), so it runs on a thread of its own, never on the cooperative pool. Returns
    /// libpq's message when the request could not be sent.
    func send() -> String? {
        var message = [CChar](repeating: 0, count: 256)
        let sent = PQcancel(cancel, &message, Int32(message.count))
        return sent == 1 ? nil : String(cString: message)
    }
}

/// Why a statement was asked to stop.
enum StopReason: UInt8 {
    case taskCancelled = 1, timedOut = 2
}

/// One call's way to stop: before it starts (it then never runs) or while it runs (the
/// server is asked to cancel it). Its connection's thread waits, before it takes the next
/// call, until the server has the request, so a late cancel cannot hit the next statement.
final class StatementStop: Sendable {
    private enum Stage: UInt8 {
        case queued, running, finished, stoppedBeforeStart, cancelSent
    }

    private let stage = Atomic<UInt8>(Stage.queued.rawValue)
    private let reason = Atomic<UInt8>(0)
    /// Set once the cancel request has reached the server (or could not be sent). A flag,
    /// not a semaphore: nearly every call is never cancelled and should cost no more than
    /// two atomics.
    private let sent = Atomic<Bool>(false)
    private let serverCancel: ServerCancel?

    init(_ serverCancel: ServerCancel?) {
        self.serverCancel = serverCancel
    }

    /// Why it was stopped, if it was.
    var stopReason: StopReason? { StopReason(rawValue: reason.load(ordering: .acquiring)) }

    /// Asks the call to stop; callable from any thread, any number of times.
    func stop(_ why: StopReason) {
        _ = reason.compareExchange(expected: 0, desired: why.rawValue, ordering: .acquiringAndReleasing)
        if stage.compareExchange(expected: Stage.queued.rawValue, desired: Stage.stoppedBeforeStart.rawValue, ordering: .acquiringAndReleasing).exchanged {
            return
        }
        guard stage.compareExchange(expected: Stage.running.rawValue, desired: Stage.cancelSent.rawValue, ordering: .acquiringAndReleasing).exchanged else {
            return
        }
        guard let serverCancel else {
            sent.store(true, ordering: .releasing)
            return
        }
        // A thread of its own: PQcancel blocks on the network.
        let thread = Thread { [self] in
            _ = serverCancel.send()
            sent.store(true, ordering: .releasing)
        }
        thread.name = "libpq-cancel"
        thread.start()
    }

    /// On the connection's thread, before the statement: false when it was stopped already.
    func start() -> Bool {
        stage.compareExchange(expected: Stage.queued.rawValue, desired: Stage.running.rawValue, ordering: .acquiringAndReleasing).exchanged
    }

    /// On the connection's thread, after the statement; waits for a cancel request in flight.
    /// Returns true when the server was asked to cancel this statement.
    func finish() -> Bool {
        let previous = stage.exchange(Stage.finished.rawValue, ordering: .acquiringAndReleasing)
        guard previous == Stage.cancelSent.rawValue else { return false }
        // Only after a cancel: PQcancel takes a connection to the server, a few milliseconds.
        while !sent.load(ordering: .acquiring) { usleep(100) }
        return true
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating), for Dispatch deadlines.
    var totalNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : scaled &+ attoseconds / 1_000_000_000
    }
}
