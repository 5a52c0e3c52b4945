import Foundation
import PostgresDriver

/// How the library's own writers of the legacy row take part in phase 5 (migration 17).
///
/// Every save and create holds the advisory lock "pvlegacy" shared for its transaction and
/// reads PROGRAM_VERSIONING_LEGACY_READONLY after taking it; a flip of that flag takes the
/// lock exclusively. So a save never decides under one state (write legacy, or not) and
/// commits under the other, whatever flags the app instance has seen so far. The same
/// statement marks the transaction as the library's legacy writer, which the read-only
/// trigger on `programs` lets through (the library writes legacy in phase 5 only where
/// DESIGN.md says it must: a new program's row).
package enum LegacyWriterLock {
    /// The key migration 17's flag trigger takes exclusively ("pvlegacy").
    package static let key = 0x7076_6c65_6761_6379

    /// A save's first statement: the program's row locked `FOR UPDATE`, the phase lock
    /// taken shared, the writer marked. No row: no such program.
    static func lockProgramForSave(_ programID: UUID) -> PGQuery {
        let query: PGQuery = """
            SELECT pg_advisory_xact_lock_shared(\(key)), set_config('program_versioning.legacy_writer', 'on', true)
              FROM programs WHERE id = \(programID) FOR UPDATE
            """
        return query.prepared(as: "pv_save_lock")
    }

    /// A create's (or a legacy write-back's) first statement.
    static func enter() -> PGQuery {
        "SELECT pg_advisory_xact_lock_shared(\(key)), set_config('program_versioning.legacy_writer', 'on', true)"
    }

    /// Marks the transaction as the library's legacy writer without the phase lock, for
    /// `backfill legacy`, which writes legacy whatever the flag says.
    package static func markWriter() -> PGQuery {
        "SELECT set_config('program_versioning.legacy_writer', 'on', true)"
    }
}
