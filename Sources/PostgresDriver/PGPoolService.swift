import ServiceLifecycle

extension PGPool: Service {
    /// Keeps the pool open until the task is cancelled or the service group shuts down
    /// gracefully, then closes it: new work is refused, work in flight finishes, every
    /// connection is closed. In a `ServiceGroup`, list the pool before the services that
    /// use it, so it is shut down after them.
    public nonisolated func run() async {
        try? await gracefulShutdown()  // returns on graceful shutdown, throws on cancellation
        await close()
    }
}
