import Foundation
import PostgresDriver
import ProgramDomain

/// The one statement a save sends: the legacy `UPDATE` (not in phase 5) and, when asked,
/// every row of the new version (`program_versions` plus all workouts, exercises and schedule entries, each
/// table one multi-row `INSERT ... SELECT FROM unnest(...)`), as data-modifying CTEs. One
/// round trip, all or nothing with the rest of the save's transaction.
struct ProgramWrite {
    var programID: UUID
    var program: Program
    var checksum: String
    var writeLegacy: Bool
    /// The version number to write, or nil to write no version.
    var version: Int?
    /// The legacy row's `xmin` as read under the lock: recorded as the version's
    /// `legacy_xmin` when the legacy JSON already holds the program and is not rewritten.
    var currentLegacyRevision: String
    /// False in phase 5: the legacy JSON does not get this version (no legacy `UPDATE`), so
    /// the version records no legacy revision and counts as ahead of legacy until
    /// `backfill legacy` writes it back.
    var writtenToLegacy = true
    var createdBy: String
    /// The optimistic single-statement save: write only if the program is still at
    /// `revision` with this latest version and LEGACY_READONLY is as the save assumes,
    /// locking the row in the same statement.
    var onlyIf: Guard?

    struct Guard {
        var revision: Revision
        var latestVersionID: UUID
        /// With a key: no receipt may exist for it yet, and the save leaves one, holding
        /// `newRevision`, in the same statement.
        var idempotencyKey: UUID?
        var newRevision: Revision
        /// True for a dual write (phases 2-4: LEGACY_READONLY must be off and the legacy JSON
        /// must hold the latest version, and is rewritten); false for phase 5 (LEGACY_READONLY
        /// must be on; legacy is left alone).
        var writesLegacy = false
    }

    /// What the statement reports back.
    struct Outcome {
        /// The new legacy revision, when the legacy JSON was rewritten.
        var legacyRevision: Revision?
        var versionID: UUID?
        /// False when `onlyIf` did not hold: nothing was written.
        var applied = true
    }

    func run(on connection: PGConnection) async throws -> Outcome {
        let rows = VersionRows(program)
        // The JSON travels only when legacy is written.
        let legacyJSON = writeLegacy ? PGJSONB(program.legacyJSONText) : nil
        // Row ids are made here (time-ordered), so exercises name their workout row without
        // the statement joining what it just inserted.
        let newVersionID = TimeOrderedID.make()
        let workoutRowIDs = rows.workoutIDs.map { _ in TimeOrderedID.make() }
        let exerciseRowIDs = rows.exerciseIDs.map { _ in TimeOrderedID.make() }
        let exerciseWorkoutRowIDs = rows.exerciseWorkoutPositions.map { workoutRowIDs[$0] }
        var binds: [PGBind] = [
            legacyJSON?.postgresBind ?? .null, programID.postgresBind, writeLegacy.postgresBind,
            (version ?? 0).postgresBind, program.name.postgresBind, rows.programExtra.postgresBind, checksum.postgresBind,
            createdBy.postgresBind, writtenToLegacy.postgresBind, currentLegacyRevision.postgresBind, (version != nil).postgresBind,
            rows.workoutIDs.postgresBind, rows.workoutNames.postgresBind, rows.workoutExtras.postgresBind,
            exerciseWorkoutRowIDs.postgresBind, rows.exerciseIDs.postgresBind, rows.exerciseNames.postgresBind,
            rows.sets.postgresBind, rows.reps.postgresBind, rows.restSeconds.postgresBind, rows.weights.postgresBind,
            rows.exercisePositions.postgresBind, rows.exerciseExtras.postgresBind,
            rows.scheduleDays.postgresBind, rows.scheduleWorkoutIDs.postgresBind, rows.scheduleExtras.postgresBind,
            newVersionID.postgresBind, workoutRowIDs.postgresBind, exerciseRowIDs.postgresBind,
        ]
        // Constant texts only: a phase-5 save must not name programs.program_json at all
        // (after `legacy retire` the column has another name).
        // Each text is prepared once per connection: a save's statement is long, and parsing
        // and planning it was a fifth of a save.
        let statement: PGQuery
        if let onlyIf {
            // Only a save with a key names save_receipts: a role without rights on it (the
            // operator's) still saves.
            let keyed = onlyIf.idempotencyKey != nil
            binds += [onlyIf.revision.token.postgresBind, onlyIf.latestVersionID.postgresBind]
            if let key = onlyIf.idempotencyKey { binds += [key.postgresBind, onlyIf.newRevision.token.postgresBind] }
            let text = onlyIf.writesLegacy
                ? Self.guardedLegacyUpdate(keyed: keyed) + Self.versionInserts + (keyed ? Self.dualWriteReceipt : "")
                : Self.guardedNoLegacyUpdate(keyed: keyed) + Self.versionInserts + (keyed ? Self.receipt : "")
            let name: StaticString = switch (onlyIf.writesLegacy, keyed) {
            case (true, false): "pv_save_dual_write_if"
            case (true, true): "pv_save_dual_write_if_keyed"
            case (false, false): "pv_save_versions_only_if"
            case (false, true): "pv_save_versions_only_if_keyed"
            }
            statement = PGQuery(unsafeSQL: text + Self.result, binds: binds).prepared(as: name)
        } else if writeLegacy {
            statement = PGQuery(unsafeSQL: Self.legacyUpdate + Self.versionInserts + Self.result, binds: binds)
                .prepared(as: "pv_save_dual_write")
        } else {
            statement = PGQuery(unsafeSQL: Self.noLegacyUpdate + Self.versionInserts + Self.result, binds: binds)
                .prepared(as: "pv_save_versions_only")
        }
        let row = try await connection.query(statement).single()
        // Every row is named by the statement (no join can drop one), and the schema's
        // statement checks refuse a row whose parent is missing: a version is whole or absent.
        let (revision, versionID, applied) = try row.decode((String?, UUID?, Bool).self)
        return Outcome(legacyRevision: revision.map(Revision.init), versionID: versionID, applied: applied)
    }

    // The statement's texts, with the binds numbered as `run` sends them: $1 legacy JSON,
    // $2 program id, $3 write legacy, $4-$11 the version row, $12-$26 the row arrays,
    // $27-$29 the row ids, $30-$33 the fast path's guard and receipt.

    private static let legacyUpdate = """
        WITH go AS (SELECT true AS ok), legacy AS (
          UPDATE programs SET program_json = $1, updated_at = now()
           WHERE id = $2 AND $3
          RETURNING xmin::text AS revision
        )
        """

    private static let noLegacyUpdate = """
        WITH go AS (SELECT true AS ok), legacy AS (
          SELECT NULL::text AS revision WHERE $1::jsonb IS NOT NULL AND $2::uuid IS NULL AND $3
        )
        """

    /// `onlyIf`: the program row locked, its revision ($30, computed as `ProgramHead`
    /// computes it) and latest version ($31) as the caller last saw them, and the flag read
    /// under the phase lock; otherwise `go` is false and nothing is inserted. A save that
    /// committed a version while this statement waited for the row makes the numbering check
    /// (or the unique key) refuse the insert: the caller falls back to the locking path.
    private static func guardedNoLegacyUpdate(keyed: Bool) -> String { """
        WITH go AS MATERIALIZED (
          SELECT coalesce((
            SELECT program_versioning_legacy_readonly_for_save()
              FROM programs p
              JOIN LATERAL (SELECT id, version, written_to_legacy FROM program_versions
                             WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
              LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
             WHERE p.id = $2 AND v.id = $31
               AND CASE WHEN NOT v.written_to_legacy AND s.program_id IS NULL THEN p.xmin::text || '/v' || v.version
                        ELSE p.xmin::text END = $30
               \(keyed ? "AND NOT EXISTS (SELECT 1 FROM save_receipts WHERE idempotency_key = $32)" : "")
               FOR UPDATE OF p), false) AS ok
        ), legacy AS (
          SELECT NULL::text AS revision WHERE $1::jsonb IS NOT NULL AND $3
        )
        """
    }

    /// `onlyIf` in phases 2-4: the row locked, its revision ($30: its `xmin`, the legacy
    /// JSON being the latest version) and latest version ($31) as the caller last saw them,
    /// the legacy JSON still the one written with that version, and LEGACY_READONLY off,
    /// read under the phase lock. Then the legacy JSON is rewritten and the next version
    /// inserted in the same statement; otherwise nothing is written and the caller takes
    /// the locking path. A row changed while this statement waited for it fails the
    /// revision test on the row's newest version (READ COMMITTED rechecks a locked row).
    private static func guardedLegacyUpdate(keyed: Bool) -> String { """
        WITH go AS MATERIALIZED (
          SELECT coalesce((
            SELECT NOT program_versioning_legacy_readonly_for_save()
              FROM programs p
              JOIN LATERAL (SELECT id, legacy_xmin FROM program_versions
                             WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
              LEFT JOIN legacy_syncs s ON s.program_id = p.id AND s.program_version_id = v.id
             WHERE p.id = $2 AND v.id = $31 AND p.xmin::text = $30
               AND (v.legacy_xmin = p.xmin::text OR s.legacy_xmin = p.xmin::text)
               \(keyed ? "AND NOT EXISTS (SELECT 1 FROM save_receipts WHERE idempotency_key = $32)" : "")
               FOR UPDATE OF p), false) AS ok
        ), legacy AS (
          UPDATE programs SET program_json = $1, updated_at = now()
           WHERE id = $2 AND $3 AND (SELECT ok FROM go)
          RETURNING xmin::text AS revision
        )
        """
    }

    private static let versionInserts = """
        , version AS (
          INSERT INTO program_versions
            (id, program_id, version, name, extra, source_checksum, content_checksum, created_by, legacy_xmin, written_to_legacy)
          SELECT $27, $2, $4, $5, $6::jsonb, $7, $7, $8, CASE WHEN $9 THEN coalesce((SELECT revision FROM legacy), $10) END, $9
           WHERE $11 AND (SELECT ok FROM go)
          RETURNING id
        ), workouts AS (
          INSERT INTO program_version_workouts (id, program_id, program_version_id, workout_id, name, position, extra)
          SELECT w.id, $2, version.id, w.workout_id, w.name, w.ordinality - 1, w.extra::jsonb
            FROM version, unnest($28::uuid[], $12::text[], $13::text[], $14::text[]) WITH ORDINALITY AS w(id, workout_id, name, extra, ordinality)
          RETURNING 1
        ), exercises AS (
          INSERT INTO program_version_exercises
            (id, program_id, program_version_id, workout_version_id, exercise_id, name, sets, reps, rest_seconds, weight_kg, position, extra)
          SELECT e.id, $2, version.id, e.workout_row, e.exercise_id, e.name, e.sets, e.reps, e.rest, e.weight::numeric, e.position,
                 e.extra::jsonb
            FROM version,
                 unnest($29::uuid[], $15::uuid[], $16::text[], $17::text[], $18::int8[], $19::int8[], $20::int8[], $21::text[],
                        $22::int8[], $23::text[]) AS e(id, workout_row, exercise_id, name, sets, reps, rest, weight, position, extra)
          RETURNING 1
        ), schedule AS (
          INSERT INTO program_version_schedule (program_id, program_version_id, position, day_index, workout_id, extra)
          SELECT $2, version.id, s.ordinality - 1, s.day_index, s.workout_id, s.extra::jsonb
            FROM version, unnest($24::int8[], $25::text[], $26::text[]) WITH ORDINALITY AS s(day_index, workout_id, extra, ordinality)
          RETURNING 1
        )
        """

    /// The fast path's receipt ($32 key, $33 the revision the save leaves), with the version.
    private static let receipt = """
        , receipt AS (
          INSERT INTO save_receipts (idempotency_key, program_id, version, revision, created_version, wrote_legacy)
          SELECT $32, $2, $4, $33, true, false FROM version
          RETURNING 1
        )
        """

    /// The dual write's receipt: the revision it leaves is the row's new `xmin` ($33 is
    /// what the caller expects it to be called when it cannot know it: unused then).
    private static let dualWriteReceipt = """
        , receipt AS (
          INSERT INTO save_receipts (idempotency_key, program_id, version, revision, created_version, wrote_legacy)
          SELECT $32, $2, $4, coalesce((SELECT revision FROM legacy), $33), true, true FROM version
          RETURNING 1
        )
        """

    private static let result = """
        SELECT (SELECT revision FROM legacy), (SELECT id FROM version), (SELECT ok FROM go)
        """
}

/// A program flattened into the column arrays the version `INSERT`s unnest. Only valid
/// programs get here, so every schedule entry names a workout by id.
package struct VersionRows {
    package var programExtra: String
    package var workoutIDs: [String] = [], workoutNames: [String] = [], workoutExtras: [String] = []
    package var exerciseWorkoutPositions: [Int] = [], exerciseIDs: [String] = [], exerciseNames: [String] = []
    package var sets: [Int] = [], reps: [Int] = [], restSeconds: [Int] = [], weights: [String?] = []
    package var exercisePositions: [Int] = [], exerciseExtras: [String] = []
    package var scheduleDays: [Int] = [], scheduleWorkoutIDs: [String] = [], scheduleExtras: [String] = []

    package init(_ program: Program) {
        programExtra = JSONValue.object(program.unknownKeys).jsonText
        for (workoutPosition, workout) in program.workouts.enumerated() {
            workoutIDs.append(workout.id)
            workoutNames.append(workout.name)
            workoutExtras.append(JSONValue.object(workout.unknownKeys).jsonText)
            for (position, exercise) in workout.exercises.enumerated() {
                exerciseWorkoutPositions.append(workoutPosition)
                exerciseIDs.append(exercise.id)
                exerciseNames.append(exercise.name)
                sets.append(exercise.sets)
                reps.append(exercise.reps)
                restSeconds.append(exercise.restSeconds)
                weights.append(exercise.weightKg?.canonical)
                exercisePositions.append(position)
                exerciseExtras.append(JSONValue.object(exercise.unknownKeys).jsonText)
            }
        }
        for entry in program.schedule {
            scheduleDays.append(entry.dayIndex)
            switch entry.workout {
            case .id(let id): scheduleWorkoutIDs.append(id)
            case .index(let index): scheduleWorkoutIDs.append(program.workouts.indices.contains(index) ? program.workouts[index].id : "")
            }
            scheduleExtras.append(JSONValue.object(entry.unknownKeys).jsonText)
        }
    }
}
