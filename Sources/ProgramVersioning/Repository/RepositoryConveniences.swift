import Foundation
import ProgramDomain

extension ProgramRepository {
    /// Re-reads the program, applies `edit` to it and saves it against the revision just
    /// read; when someone else saved in between (`.conflict`), does it all again, up to
    /// `maxAttempts` times. `edit` must be safe to run more than once: it is applied to the
    /// program as it is now, not to a copy kept from before.
    ///
    /// An error `edit` throws stops at once, nothing saved, as `.unexpected` with the error
    /// kept. A lost connection during the commit throws `.outcomeUnknown` as `save` does
    /// (with `idempotencyKey`, one key for all attempts, the same call may be retried).
    public func update(
        _ id: UUID, maxAttempts: Int = 5, idempotencyKey: UUID? = nil, _ edit: (inout Program) throws -> Void
    ) async throws(RepositoryError) -> SaveResult {
        var attempt = 1
        while true {
            let current = try await program(id)
            var edited = current.program
            do {
                try edit(&edited)
            } catch {
                throw RepositoryError(error)
            }
            do {
                return try await save(edited, to: id, expectedRevision: current.revision, idempotencyKey: idempotencyKey)
            } catch {
                guard case .conflict = error, attempt < maxAttempts else { throw error }
                attempt += 1
            }
        }
    }

    /// The programs of one user, oldest first, each read as `program(_:)` reads it (from
    /// versions or legacy, as the flags say). At most `limit`.
    public func programs(ofUser userID: UUID, limit: Int = 100) async throws(RepositoryError) -> [StoredProgram] {
        let ids = try await run { connection in
            try await connection.query("""
                SELECT id FROM programs WHERE user_id = \(userID) ORDER BY created_at, id LIMIT \(limit)
                """).map { try $0.decode(UUID.self, at: 0) }
        }
        var programs: [StoredProgram] = []
        programs.reserveCapacity(ids.count)
        for id in ids {
            do {
                programs.append(try await program(id))
            } catch {
                // Deleted between the two reads: it is no longer the user's.
                guard case .programNotFound = error else { throw error }
            }
        }
        return programs
    }
}
