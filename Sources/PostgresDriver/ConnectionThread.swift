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
    private let workerThreadID = Atomic<UInt>(0)
    /// Jobs queued and not yet taken; lets the worker watch for work without the lock.
    private let pending = Atomic<Int>(0)
    /// Moving average of recent call durations; written only by the worker thread.
    private let recentCallNanoseconds = Atomic<Int>(0)
    private let wake: WakeDescriptor
    /// Thread-confined state: read and written only on the worker thread.
    private let confined: Confined

    init(name: String) throws(PGError) {
        wake = try WakeDescriptor()
        confined = Confined()
        let thread = Thread { [self] in self.runLoop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the connection's thread; the caller waits without blocking a
    /// cooperative thread (see `CallCompletion`).
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(PGError) -> T) async throws(PGError) -> T {
        // A task pinned to this thread (see `PGConnection.executor`) is already here:
        // run inline, with no hop and no wake-up in either direction.
        if isCurrentThread { return try body() }
        let completion = CallCompletion<T>()
        let accepted = submit { [self] in
            let started = ContinuousClock.now
            let result: Result<T, PGError>
            do throws(PGError) {
                result = .success(try body())
            } catch {
                result = .failure(error)
            }
            recordCallDuration(started.duration(to: .now))
            completion.finish(result)
        }
        guard accepted else {
            throw PGError(code: .connectionClosed, message: "the connection was closed")
        }
        return try await completion.value(yieldingFor: yieldBudget).get()
    }

    /// How long a caller yields before suspending: a little more than recent calls took,
    /// and nothing when they were slow (a suspension's wake-up is then a small cost).
    private var yieldBudget: Duration {
        let recent = recentCallNanoseconds.load(ordering: .relaxed)
        guard recent <= 100_000 else { return .zero }
        return .nanoseconds(2 * recent + 10_000)
    }

    /// Keeps a moving average (weight 1/8) of how long calls on this thread take.
    private func recordCallDuration(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = Int(clamping: seconds) &* 1_000_000_000 &+ Int(attoseconds / 1_000_000_000)
        let previous = recentCallNanoseconds.load(ordering: .relaxed)
        recentCallNanoseconds.store(previous + (min(nanoseconds, 10_000_000) - previous) / 8, ordering: .relaxed)
    }

    /// Queues a job; returns false once the thread was stopped.
    @discardableResult
    func submit(_ job: @escaping Job) -> Bool {
        let mustWake: Bool? = queue.withLock { state in
            if state.stopped { return nil }
            state.jobs.append(job)
            pending.add(1, ordering: .releasing)
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

    /// True when called on this worker thread.
    var isCurrentThread: Bool {
        workerThreadID.load(ordering: .relaxed) == UInt(bitPattern: Int(bitPattern: currentThreadID()))
    }

    private func runLoop() {
        workerThreadID.store(UInt(bitPattern: Int(bitPattern: currentThreadID())), ordering: .relaxed)
        while true {
            let (jobs, stopped): ([Job], Bool) = queue.withLock { state in
                let taken = state.jobs
                state.jobs.removeAll(keepingCapacity: true)
                pending.subtract(taken.count, ordering: .relaxed)
                return (taken, state.stopped)
            }
            if !jobs.isEmpty {
                for job in jobs { job() }
                // Notifications that arrived while a job ran were buffered by libpq.
                confined.socketHandler?()
                continue
            }
            if stopped { break }
            if spinForWork() { continue }
            // Mark sleeping only if nothing arrived meanwhile; a submitter that sees the mark
            // writes to the wake pipe, which poll(2) below notices even if written first.
            let sleep = queue.withLock { state in
                guard state.jobs.isEmpty, !state.stopped else { return false }
                state.sleeping = true
                return true
            }
            if sleep { waitForWork() }
        }
        wake.close()
    }

    /// A caller that just got its result usually sends the next statement within a few
    /// microseconds; watching for it briefly saves the wake-up syscalls on both sides.
    /// Returns true when work arrived. Skipped while watching a socket (LISTEN), whose
    /// notifications must wake the thread through poll(2).
    private func spinForWork() -> Bool {
        guard confined.watchedSocket < 0 else { return false }
        let deadline = ContinuousClock.now + .microseconds(30)
        repeat {
            if pending.load(ordering: .acquiring) > 0 { return true }
        } while ContinuousClock.now < deadline
        return false
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

    init() throws(PGError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw PGError(code: .connectionFailed, message: "cannot create a pipe: \(String(cString: strerror(errno)))")
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

private func currentThreadID() -> UInt {
    #if canImport(Glibc)
    return UInt(pthread_self())
    #else
    return UInt(bitPattern: pthread_self())
    #endif
}

/// The thread is also a task executor: a task that prefers it runs its code here, next to
/// the connection, and awaits libpq calls without any thread hop. Blocking libpq calls then
/// block this connection's own thread, still never the cooperative pool.
extension ConnectionThread: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        if !submit({ job.runSynchronously(on: executor) }) {
            // A stopped thread still runs the job, on the global pool, so no task is lost.
            Task.detached { job.runSynchronously(on: executor) }
        }
    }
}
