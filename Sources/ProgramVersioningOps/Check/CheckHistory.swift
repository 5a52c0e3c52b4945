import Foundation
import PostgresDriver

/// Earlier runs of the same scope: the previous run's findings, for "new" and "fixed", and
/// the recent trend. Also writes a finished run, as the single row the checker inserts.
struct CheckHistory {
    var previous: (runID: UUID, finishedAt: Date, keys: Set<String>)?
    var trend: [CheckTrendPoint]
    /// Runs in a report's trend, this one included (the HTML chart draws them all).
    static let trendLength = 30

    static func load(userID: UUID?, on connection: PGConnection) async throws -> CheckHistory {
        let recent = try await connection.query("""
            SELECT id, finished_at, difference_count, ignored_count FROM check_runs
             WHERE status IN ('CLEAN', 'DIFFERENCES') AND user_filter IS NOT DISTINCT FROM \(userID)
             ORDER BY finished_at DESC LIMIT \(trendLength - 1)
            """).map { try $0.decode((UUID, Date, Int, Int).self) }
        var history = CheckHistory(
            previous: nil,
            trend: recent.reversed().map { CheckTrendPoint(runID: $0.0, finishedAt: $0.1, differenceCount: $0.2, ignoredCount: $0.3) })
        if let latest = recent.first {
            // Keys of the stored findings (ignored ones too: they are still there), built in SQL.
            let keys = try await connection.query("""
                SELECT coalesce(f->>'programId', '-') || ' ' || (f->>'kind') || ' ' || coalesce(f->>'path', '-')
                  FROM check_runs r, jsonb_array_elements(r.findings) f
                 WHERE r.id = \(latest.0)
                """).map { try $0.decode(String.self, at: 0) }
            history.previous = (latest.0, latest.1, Set(keys))
        }
        return history
    }

    func compare(with keys: Set<String>) -> CheckComparison? {
        guard let previous else { return nil }
        return CheckComparison(
            previousRunID: previous.runID, previousFinishedAt: previous.finishedAt,
            new: keys.subtracting(previous.keys).sorted(), fixed: previous.keys.subtracting(keys).sorted())
    }

    /// The run as one row, findings included (the stored ones: see `CheckOptions.keepInMemory`).
    static func store(_ report: CheckReport, status: CheckRunStatus, on connection: PGConnection) async throws {
        let findings = report.differences
        let counts = report.countsByKind.map { "\"\($0.key.rawValue)\":\($0.value)" }.sorted().joined(separator: ",")
        try await connection.query("""
            INSERT INTO check_runs
              (id, started_at, finished_at, status, flags, user_filter, programs_checked, sessions_checked, difference_count,
               counts_by_kind, findings, findings_stored, ignored_count, legacy_behind, data_as_of, read_from, resumed)
            SELECT \(report.runID), \(report.startedAt), \(report.finishedAt), \(status),
                   jsonb_build_object('PROGRAM_VERSIONING_WRITES', jsonb_build_object('enabled', \(report.writes)),
                                      'PROGRAM_VERSIONING_READS', jsonb_build_object('enabled', \(report.reads), 'percent', \(report.readPercent)),
                                      'PROGRAM_VERSIONING_LEGACY_READONLY', jsonb_build_object('enabled', \(report.legacyReadOnly))),
                   \(report.userID), \(report.programsChecked), \(report.sessionsChecked), \(report.differenceCount),
                   \("{\(counts)}")::jsonb,
                   coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                'programId', f.program_id, 'kind', f.kind, 'path', f.path, 'legacy', f.legacy,
                                'versioned', f.versioned, 'ignored', f.ignore_reason IS NOT NULL, 'ignoreReason', f.ignore_reason))
                                ORDER BY f.n)
                               FROM unnest(\(findings.map(\.programID))::uuid[], \(findings.map(\.kind.rawValue))::text[],
                                           \(findings.map(\.path))::text[], \(findings.map(\.legacy))::text[],
                                           \(findings.map(\.versioned))::text[], \(findings.map(\.ignoredBecause))::text[])
                                    WITH ORDINALITY AS f(program_id, kind, path, legacy, versioned, ignore_reason, n)), '[]'::jsonb),
                   \(findings.count), \(report.ignoredCount), \(report.legacyBehind), \(report.dataAsOf), \(report.readFrom),
                   \(report.resumed)
            """)
    }
}
