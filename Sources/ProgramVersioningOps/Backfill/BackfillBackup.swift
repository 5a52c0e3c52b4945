import Foundation
import PostgresDriver

/// `backfill --backup DIR`: before a run writes anything, the legacy tables it touches go
/// to `DIR/backfill-<kind>-<runID>/` (see `TableBackup`).
enum BackfillBackup {
    /// The tables a run of each kind could change or depends on (all legacy).
    static func tables(for kind: BackfillKind) -> [String] {
        switch kind {
        case .programs, .legacy: ["programs"]
        case .sessions: ["workout_sessions", "logged_sets"]
        }
    }

    /// Writes the backup and returns its folder and files.
    static func write(
        _ kind: BackfillKind, runID: UUID, userID: UUID?, to directory: String, on connection: PGConnection
    ) async throws -> (folder: String, files: [TableBackup.File]) {
        let folder = URL(fileURLWithPath: directory).appendingPathComponent("backfill-\(kind.rawValue)-\(runID.uuidString.lowercased())")
        do {
            let (files, _) = try await TableBackup.write(
                tables: tables(for: kind), userID: userID, to: folder,
                manifestFields: ["runId": runID.uuidString.lowercased(), "kind": kind.rawValue], on: connection)
            return (folder.path, files)
        } catch let failure as TableBackup.Failure {
            throw BackfillError.backupFailed(failure.description)
        }
    }
}
