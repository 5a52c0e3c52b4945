/// A NOTIFY received on a channel this connection listens to.
public struct PGNotification: Sendable, Hashable {
    /// The channel name.
    public var channel: String
    /// The payload (empty when none was sent).
    public var payload: String
    /// The server process that sent it.
    public var backendPID: Int32
}

extension PGConnection {
    /// Starts listening on `channel`.
    ///
    /// Call `notifications()` to receive them. Use a dedicated connection (not one from a pool)
    /// for listening: the server only delivers to the connection that listens.
    public func listen(_ channel: String) async throws(PGError) {
        let handle = self.handle
        try await runTracked { () throws(PGError) in
            _ = try handle.execute(PGQuery(unsafeSQL: "LISTEN " + (try handle.escapeIdentifier(channel))))
        }
    }

    /// Stops listening on `channel`.
    public func unlisten(_ channel: String) async throws(PGError) {
        let handle = self.handle
        try await runTracked { () throws(PGError) in
            _ = try handle.execute(PGQuery(unsafeSQL: "UNLISTEN " + (try handle.escapeIdentifier(channel))))
        }
    }

    /// The notifications of every channel this connection listens to, as they arrive.
    ///
    /// The connection's thread sleeps in `poll(2)` on the socket while idle, so a NOTIFY is
    /// delivered as soon as it arrives, without polling. The stream finishes when the
    /// connection is closed or lost. One stream per connection; a second call returns an
    /// already finished stream.
    public func notifications() -> AsyncStream<PGNotification> {
        let (stream, continuation) = AsyncStream.makeStream(of: PGNotification.self, bufferingPolicy: .bufferingNewest(10_000))
        guard setNotificationContinuation(continuation) else {
            continuation.finish()
            return stream
        }
        let handle = self.handle
        let thread = self.thread
        let socket = self.socket
        thread.submit {
            thread.watchSocket(socket) {
                let alive = handle.drainNotifications { continuation.yield($0) }
                if !alive {
                    thread.unwatchSocket()
                    continuation.finish()
                }
            }
        }
        return stream
    }
}
