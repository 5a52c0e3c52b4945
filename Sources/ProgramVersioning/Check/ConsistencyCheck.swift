import Foundation
import Logging
import PostgresDriver

/// Why a check could not finish.
public enum CheckError: Error, Sendable, CustomStringConvertible {
    case database(runID: UUID?, PostgresError)

    public var description: String {
        switch self {
        case .database(let runID, let error):
            "the check failed\(runID.map { " (run \($0))" } ?? ""): \(error.message.split(whereSeparator: \.isNewline).first ?? ""); "
                + "check the database connection and run it again"
        }
    }
}

/// The consistency check (DESIGN.md §5): every program's legacy JSON against its latest
/// version rebuilt from the versioned tables, every session's and set's links, version
/// numbering and orphans. It reads page by page with short statements (no long snapshot, no
/// lock an app query would wait for) and records the run and each finding in `check_runs`
/// and `check_findings`.
public struct ConsistencyCheck: Sendable {
    private let pool: PostgresPool
    private let logger: Logger

    public init(pool: PostgresPool, logger: Logger = Logger(label: "ProgramVersioning.check")) {
        self.pool = pool
        self.logger = logger
    }

    public func run(_ options: CheckOptions = CheckOptions()) async throws(CheckError) -> CheckReport {
        var runID: UUID?
        do {
            return try await pool.withConnection { connection in
                try await run(options, on: connection) { runID = $0 }
            }
        } catch let error as CheckError {
            throw error
        } catch let error as PostgresError {
            throw .database(runID: runID, error)
        } catch {
            throw .database(runID: runID, PostgresError(code: .server, message: "\(error)"))
        }
    }

    private func run(_ options: CheckOptions, on connection: PostgresConnection, announce: (UUID) -> Void) async throws -> CheckReport {
        let startedAt = Date()
        let flags = try await connection.query("SELECT name, enabled, percent FROM runtime_flags").map {
            try $0.decode((String, Bool, Int32).self)
        }
        let writes = flags.first { $0.0 == "PROGRAM_VERSIONING_WRITES" }?.1 ?? false
        let reads = flags.first { $0.0 == "PROGRAM_VERSIONING_READS" }
        let runID = UUID()
        try await connection.query("""
            INSERT INTO check_runs (id, started_at, flags, user_filter)
            SELECT \(runID), \(startedAt),
                   (SELECT coalesce(jsonb_object_agg(name, jsonb_build_object('enabled', enabled, 'percent', percent)), '{}')
                      FROM runtime_flags),
                   \(options.userID)
            """)
        announce(runID)
        var report = CheckReport(
            runID: runID, startedAt: startedAt, finishedAt: startedAt, writes: writes, reads: reads?.1 ?? false,
            readPercent: Int(reads?.2 ?? 0), userID: options.userID, programsChecked: 0, sessionsChecked: 0,
            differences: [], differenceCount: 0, countsByKind: [:])
        do {
            var cursor: UUID?
            let programs = ProgramComparison(userID: options.userID, writesOn: writes)
            repeat {
                let page = try await programs.run(after: cursor, pageSize: options.pageSize, on: connection)
                report.programsChecked += page.scanned
                try await record(page.differences, in: &report, options: options, on: connection)
                cursor = page.lastKey
                if page.scanned < options.pageSize { break }
            } while true
            cursor = nil
            let sessions = SessionLinkCheck(userID: options.userID)
            repeat {
                let page = try await sessions.run(after: cursor, pageSize: options.pageSize, on: connection)
                report.sessionsChecked += page.scanned
                try await record(page.differences, in: &report, options: options, on: connection)
                cursor = page.lastKey
                if page.scanned < options.pageSize { break }
            } while true
            if options.userID == nil {
                try await record(try await orphans(on: connection), in: &report, options: options, on: connection)
            }
            report.finishedAt = Date()
            let counts = report.countsByKind.map { "\"\($0.key.rawValue)\":\($0.value)" }.sorted().joined(separator: ",")
            try await connection.query("""
                UPDATE check_runs
                   SET status = \(report.isClean ? "CLEAN" : "DIFFERENCES"), finished_at = \(report.finishedAt),
                       programs_checked = \(report.programsChecked), sessions_checked = \(report.sessionsChecked),
                       difference_count = \(report.differenceCount), counts_by_kind = \("{\(counts)}")::jsonb
                 WHERE id = \(runID)
                """)
            return report
        } catch {
            _ = try? await connection.query("UPDATE check_runs SET status = 'FAILED', finished_at = now() WHERE id = \(runID)")
            throw error
        }
    }

    /// Versions whose program row is gone (possible only with constraints switched off,
    /// e.g. a restore with triggers disabled).
    private func orphans(on connection: PostgresConnection) async throws -> [CheckDifference] {
        try await connection.query("""
            SELECT v.program_id, v.id, v.version FROM program_versions v
             WHERE NOT EXISTS (SELECT 1 FROM programs p WHERE p.id = v.program_id)
             ORDER BY v.program_id, v.version
            """).map { row in
            let (programID, versionID, version) = try row.decode((UUID, UUID, Int32).self)
            return CheckDifference(
                programID: programID, kind: .orphanVersion, path: "version \(version)", legacy: nil, versioned: versionID.uuidString.lowercased())
        }
    }

    private func record(
        _ found: [CheckDifference], in report: inout CheckReport, options: CheckOptions, on connection: PostgresConnection
    ) async throws {
        guard !found.isEmpty else { return }
        try await connection.query("""
            INSERT INTO check_findings (run_id, program_id, kind, path, legacy, versioned)
            SELECT \(report.runID), f.program_id, f.kind, f.path, f.legacy, f.versioned
              FROM unnest(\(found.map(\.programID))::uuid[], \(found.map(\.kind.rawValue))::text[], \(found.map(\.path))::text[],
                          \(found.map(\.legacy))::text[], \(found.map(\.versioned))::text[]) AS f(program_id, kind, path, legacy, versioned)
            """)
        report.differenceCount += found.count
        for difference in found { report.countsByKind[difference.kind, default: 0] += 1 }
        report.differences += found.prefix(max(0, options.keepInMemory - report.differences.count))
    }
}
