import Synchronization

/// Hands one result from a connection thread to the task that asked for it.
///
/// A task that suspends on a continuation is resumed by enqueuing it on the cooperative
/// pool, and waking a parked pool thread costs about as much as a short query. So the
/// waiting task first yields for a moment (giving its thread to any other ready task, never
/// blocking it) and picks the result up itself when it lands; only a slower call falls back
/// to suspending on a continuation.
final class CallCompletion<T: Sendable>: @unchecked Sendable {
    // @unchecked: `result` is written once before `stage` is released as `finished`, and
    // `continuation` once before `stage` is released as `suspended`; each is read only by
    // the side that acquired that stage.
    private enum Stage: Int {
        case running, finished, suspended
    }

    private let stage = Atomic<Int>(Stage.running.rawValue)
    private var result: Result<T, PGError>?
    private var continuation: UnsafeContinuation<Void, Never>?

    /// Called once, by the connection thread.
    func finish(_ result: Result<T, PGError>) {
        self.result = result
        let previous = stage.exchange(Stage.finished.rawValue, ordering: .acquiringAndReleasing)
        if previous == Stage.suspended.rawValue { continuation?.resume() }
    }

    /// Called once, by the waiting task. Yields while `yieldBudget` lasts, then suspends.
    func value(yieldingFor yieldBudget: Duration) async -> Result<T, PGError> {
        if yieldBudget > .zero {
            let clock = ContinuousClock()
            let deadline = clock.now + yieldBudget
            while stage.load(ordering: .acquiring) == Stage.running.rawValue, clock.now < deadline {
                await Task.yield()
            }
        }
        if stage.load(ordering: .acquiring) != Stage.finished.rawValue {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                self.continuation = continuation
                let (suspended, _) = stage.compareExchange(
                    expected: Stage.running.rawValue, desired: Stage.suspended.rawValue,
                    ordering: .acquiringAndReleasing)
                // Finished in the meantime: nobody else will resume us.
                if !suspended { continuation.resume() }
            }
        }
        return result!
    }
}
