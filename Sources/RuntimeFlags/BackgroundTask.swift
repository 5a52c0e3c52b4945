import Synchronization

/// One background task a source runs while started: started at most once, stopped by
/// cancelling it and waiting for it to end.
final class BackgroundTask: Sendable {
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Starts `body` unless it is already running.
    func start(_ body: @escaping @Sendable () async -> Void) {
        task.withLock { task in
            guard task == nil else { return }
            task = Task.detached { await body() }
        }
    }

    /// Cancels the task and waits until it has ended.
    func stop() async {
        let running = task.withLock { task -> Task<Void, Never>? in
            defer { task = nil }
            return task
        }
        running?.cancel()
        await running?.value
    }
}
