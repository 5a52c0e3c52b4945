import Foundation
import PostgresDriver

/// The control row of one kind of background work (`background_controls`), which every
/// running backfill or check reads between batches: an operator pauses, resumes or resizes
/// a run from any shell or machine, and a pause stays until resumed (a run started while
/// paused waits too).
public struct BackgroundControl: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case backfill, check
    }

    public var kind: Kind
    public var paused: Bool
    /// Records per batch (pages for a check) from the next batch on; nil: the run's own.
    public var batchSize: Int?
    public var reason: String?
    public var changedAt: Date
    public var changedBy: String

    public static func read(_ kind: Kind, on connection: PGConnection) async throws -> BackgroundControl {
        let row = try await connection.query("""
            SELECT paused, batch_size, reason, changed_at, changed_by FROM background_controls WHERE kind = \(kind.rawValue)
            """).first
        guard let row else {
            // The migration inserts both rows; a missing one means nothing paused it.
            return BackgroundControl(kind: kind, paused: false, batchSize: nil, reason: nil, changedAt: Date(), changedBy: "-")
        }
        let (paused, batchSize, reason, changedAt, changedBy) = try row.decode((Bool, Int?, String?, Date, String).self)
        return BackgroundControl(kind: kind, paused: paused, batchSize: batchSize, reason: reason, changedAt: changedAt, changedBy: changedBy)
    }

    public static func read(_ kind: Kind, pool: PGPool) async throws -> BackgroundControl {
        try await pool.withConnection { try await read(kind, on: $0) }
    }

    /// Pauses (`paused: true`) or resumes runs of `kind`; returns the row as it is now.
    @discardableResult
    public static func setPaused(_ paused: Bool, kind: Kind, reason: String?, pool: PGPool) async throws -> BackgroundControl {
        try await pool.withConnection { connection in
            try await connection.query("""
                UPDATE background_controls SET paused = \(paused), reason = \(reason), changed_at = now(), changed_by = session_user
                 WHERE kind = \(kind.rawValue)
                """)
            return try await read(kind, on: connection)
        }
    }

    /// Sets the batch size runs of `kind` use from their next batch (nil: back to their own).
    @discardableResult
    public static func setBatchSize(_ size: Int?, kind: Kind, pool: PGPool) async throws -> BackgroundControl {
        try await pool.withConnection { connection in
            try await connection.query("""
                UPDATE background_controls SET batch_size = \(size), changed_at = now(), changed_by = session_user
                 WHERE kind = \(kind.rawValue)
                """)
            return try await read(kind, on: connection)
        }
    }
}
