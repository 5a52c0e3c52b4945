import Synchronization

/// Work shared by several benchmarks (a template database, a file) that starts when the
/// first of them asks for its value, not when the benchmarks are registered: a task started
/// at registration would run beside whichever benchmark runs first and skew its figures.
final class StartedOnFirstUse<Value: Sendable>: Sendable {
    private let work: @Sendable () async throws -> Value
    private let task = Mutex<Task<Value, any Error>?>(nil)

    init(_ work: @escaping @Sendable () async throws -> Value) {
        self.work = work
    }

    var value: Value {
        get async throws {
            let started = task.withLock { task in
                if let task { return task }
                let new = Task { try await work() }
                task = new
                return new
            }
            return try await started.value
        }
    }
}
