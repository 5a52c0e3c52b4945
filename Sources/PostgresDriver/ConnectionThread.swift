#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// A dedicated OS thread that owns one libpq connection.
///
/// libpq calls block (network I/O), and Swift's cooperative thread pool must never block,
/// so every call that touches a `PGconn` runs here. One thread per connection also gives
/// the rule "one `PGconn` is used by one thread at a time" for free.
///
/// While idle the thread sleeps in `poll(2)` on a wake-up descriptor and, when a socket is
/// being watched (LISTEN), on the connection's socket too: a notification wakes it without
/// any polling loop.
final class ConnectionThread: Sendable {
    typealias Job = @Sendable () -> Void

    private struct Queue: ~Copyable {
        var jobs: [Job] = []
        var sleeping = false
        var stopped = false
    }

    private let queue = Mutex(Queue())
    private let wake: WakeDescriptor
    /// Thread-confined state: read and written only on the worker thread.
    private let confined: Confined

    init(name: String) throws(PostgresError) {
        wake = try WakeDescriptor()
        confined = Confined()
        let thread = Thread { [self] in self.runLoop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the connection's thread and suspends the caller (without blocking
    /// a cooperative thread) until it returns.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(PostgresError) -> T) async throws(PostgresError) -> T {
        let result: Result<T, PostgresError> = await withUnsafeContinuation { continuation in
            let accepted = submit {
                do throws(PostgresError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            if !accepted {
                continuation.resume(returning: .failure(PostgresError(code: .connectionClosed, message: "the connection was closed")))
            }
        }
        return try result.get()
    }

    /// Queues a job; returns false once the thread was stopped.
    @discardableResult
    func submit(_ job: @escaping Job) -> Bool {
        let mustWake: Bool? = queue.withLock { state in
            if state.stopped { return nil }
            state.jobs.append(job)
            let wasSleeping = state.sleeping
            state.sleeping = false
            return wasSleeping
        }
        guard let mustWake else { return false }
        if mustWake { wake.signal() }
        return true
    }

    /// Stops the thread after the jobs already queued have run.
    func stop() {
        let mustWake = queue.withLock { state in
            state.stopped = true
            let wasSleeping = state.sleeping
            state.sleeping = false
            return wasSleeping
        }
        if mustWake { wake.signal() }
    }

    /// Watches `socket` while idle and calls `handler` on this thread when it is readable.
    /// Must be called from a job running on this thread.
    func watchSocket(_ socket: Int32, handler: @escaping () -> Void) {
        confined.watchedSocket = socket
        confined.socketHandler = handler
    }

    /// Stops watching the socket. Must be called from a job running on this thread.
    func unwatchSocket() {
        confined.watchedSocket = -1
        confined.socketHandler = nil
    }

    private func runLoop() {
        while true {
            let (jobs, stopped): ([Job], Bool) = queue.withLock { state in
                if state.jobs.isEmpty {
                    if !state.stopped { state.sleeping = true }
                    return ([], state.stopped)
                }
                let taken = state.jobs
                state.jobs.removeAll(keepingCapacity: true)
                return (taken, false)
            }
            if jobs.isEmpty {
                if stopped { break }
                waitForWork()
                continue
            }
            for job in jobs { job() }
            // Notifications that arrived while a job ran were buffered by libpq.
            confined.socketHandler?()
        }
        wake.close()
    }

    private func waitForWork() {
        var fds = [pollfd(fd: wake.fd, events: Int16(POLLIN), revents: 0)]
        if confined.watchedSocket >= 0 {
            fds.append(pollfd(fd: confined.watchedSocket, events: Int16(POLLIN), revents: 0))
        }
        let ready = poll(&fds, nfds_t(fds.count), -1)
        guard ready > 0 else { return }  // EINTR: loop again
        if fds[0].revents != 0 { wake.drain() }
        if fds.count > 1, fds[1].revents != 0 { confined.socketHandler?() }
    }
}

/// State only the worker thread touches, so it needs no lock.
private final class Confined: @unchecked Sendable {
    // @unchecked: every access happens on the one worker thread (see ConnectionThread).
    var watchedSocket: Int32 = -1
    var socketHandler: (() -> Void)?
}

/// A non-blocking pipe used to wake the thread from `poll(2)`.
private struct WakeDescriptor: Sendable {
    let fd: Int32
    private let writeFD: Int32

    init() throws(PostgresError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw PostgresError(code: .connectionFailed, message: "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        for descriptor in fds {
            _ = fcntl(descriptor, F_SETFL, O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        self.fd = fds[0]
        self.writeFD = fds[1]
    }

    func signal() {
        var one: UInt8 = 1
        _ = write(writeFD, &one, 1)
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(fd, &buffer, buffer.count) > 0 {}
    }

    func close() {
        closeDescriptor(fd)
        closeDescriptor(writeFD)
    }
}

private func closeDescriptor(_ fd: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}
