import ServiceLifecycle

/// Runs `services` in child tasks while `body` runs, then cancels them and waits until they
/// have ended: nothing a test starts outlives it.
public func whileRunning<T: Sendable>(_ services: any Service..., body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
        for service in services {
            group.addTask { try? await service.run() }
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        group.cancelAll()
        try await group.waitForAll()
        return try result.get()
    }
}
