import Foundation
import PostgresDriver
import ProgramDomain
import ProgramVersioning

/// A version the backfill is about to write.
struct PendingVersion {
    var programID: UUID
    var version: Int
    var program: Program
    var checksum: String
    /// The legacy row revision (`xmin`) the program was read from, under its lock.
    var legacyRevision: String
}

/// Writes many versions with one COPY per versioned table: the same rows and column values
/// a save writes (`VersionRows`), with row ids made here (time-ordered, as a save makes
/// them) so exercises can name their workout row without a round trip.
struct VersionCopy {
    private let versions: [PendingVersion]

    init(_ versions: [PendingVersion]) {
        self.versions = versions
    }

    func write(on connection: PGConnection) async throws {
        guard !versions.isEmpty else { return }
        let rows = versions.map { VersionRows($0.program) }
        let versionIDs = versions.map { _ in TimeOrderedID.make().uuidString }
        let workoutRowIDs = rows.map { $0.workoutIDs.map { _ in TimeOrderedID.make().uuidString } }

        try await connection.copyFrom("""
            COPY program_versions (id, program_id, version, name, extra, source_checksum, content_checksum, created_by, legacy_xmin)
            FROM STDIN
            """) { writer in
            for (index, pending) in versions.enumerated() {
                try await writer.write(row: [
                    versionIDs[index], pending.programID.uuidString, String(pending.version), pending.program.name,
                    rows[index].programExtra, pending.checksum, pending.checksum, "backfill", pending.legacyRevision,
                ])
            }
        }
        try await connection.copyFrom(
            "COPY program_version_workouts (id, program_id, program_version_id, workout_id, name, position, extra) FROM STDIN"
        ) { writer in
            for (index, pending) in versions.enumerated() {
                let program = pending.programID.uuidString
                for (position, workoutID) in rows[index].workoutIDs.enumerated() {
                    try await writer.write(row: [
                        workoutRowIDs[index][position], program, versionIDs[index], workoutID, rows[index].workoutNames[position],
                        String(position), rows[index].workoutExtras[position],
                    ])
                }
            }
        }
        try await connection.copyFrom("""
            COPY program_version_exercises
              (id, program_id, program_version_id, workout_version_id, exercise_id, name, sets, reps, rest_seconds, weight_kg, position, extra)
            FROM STDIN
            """) { writer in
            for (index, pending) in versions.enumerated() {
                let program = pending.programID.uuidString
                let version = rows[index]
                for e in version.exerciseIDs.indices {
                    let workoutPosition = version.exerciseWorkoutPositions[e]
                    try await writer.write(row: [
                        TimeOrderedID.make().uuidString, program, versionIDs[index], workoutRowIDs[index][workoutPosition], version.exerciseIDs[e],
                        version.exerciseNames[e], String(version.sets[e]), String(version.reps[e]), String(version.restSeconds[e]),
                        version.weights[e], String(version.exercisePositions[e]), version.exerciseExtras[e],
                    ])
                }
            }
        }
        try await connection.copyFrom(
            "COPY program_version_schedule (program_id, program_version_id, position, day_index, workout_id, extra) FROM STDIN"
        ) { writer in
            for (index, pending) in versions.enumerated() {
                let program = pending.programID.uuidString
                let version = rows[index]
                for position in version.scheduleDays.indices {
                    try await writer.write(row: [
                        program, versionIDs[index], String(position), String(version.scheduleDays[position]),
                        version.scheduleWorkoutIDs[position], version.scheduleExtras[position],
                    ])
                }
            }
        }
    }
}
