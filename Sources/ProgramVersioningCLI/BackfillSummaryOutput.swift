import Foundation
import ProgramVersioning
import ProgramVersioningOps

/// How a backfill run is printed: text for an operator, JSON (DESIGN.md §5 keys first) for
/// machines.
enum BackfillSummaryOutput {
    static func json(_ summary: BackfillSummary) -> [String: Any] {
        let counts = summary.counts
        var object: [String: Any] = [
            "runId": summary.runID.uuidString.lowercased(), "dryRun": summary.dryRun, "seen": counts.seen,
            "reported": counts.reported, "status": summary.status.rawValue, "kind": summary.kind.rawValue, "resumed": summary.resumed,
            "startedAt": iso8601(summary.startedAt), "finishedAt": iso8601(summary.finishedAt),
            "throttledSeconds": summary.throttledSeconds,
            "reportsByReason": summary.reportsByReason,
            "audit": [
                "before": tableCounts(summary.audit.before), "after": tableCounts(summary.audit.after),
                "programsPreserved": summary.audit.programsPreserved, "sessionsPreserved": summary.audit.sessionsPreserved,
                "setsPreserved": summary.audit.setsPreserved, "linksValid": summary.audit.linksValid,
                "invalidLinks": summary.audit.invalidLinks,
            ],
            "reports": summary.reports.prefix(100).map { report in
                var entry: [String: Any] = ["reason": report.reason, "detail": report.detail]
                if let id = report.programID { entry["programId"] = id.uuidString.lowercased() }
                if let id = report.sessionID { entry["sessionId"] = id.uuidString.lowercased() }
                if let id = report.loggedSetID { entry["loggedSetId"] = id.uuidString.lowercased() }
                if let path = report.path { entry["path"] = path }
                return entry
            },
        ]
        if let backup = summary.backup {
            object["backup"] = [
                "folder": backup.folder,
                "files": backup.files.map { ["table": $0.table, "path": $0.path, "rows": $0.rows, "bytes": $0.bytes, "sha256": $0.sha256] },
            ]
        }
        switch summary.kind {
        case .programs:
            object["migrated"] = counts.migrated
            object["unchanged"] = counts.unchanged
            object["versionsCreated"] = summary.dryRun ? 0 : counts.migrated
        case .sessions:
            object["linked"] = counts.linked
            object["alreadyLinked"] = counts.alreadyLinked
            object["setsLinked"] = counts.setsLinked
            object["setsReported"] = counts.setsReported
        case .legacy:
            object["written"] = counts.written
            object["unchanged"] = counts.unchanged
            object["legacyReadOnlyTurnedOff"] = summary.legacyReadOnlyTurnedOff
            object["writtenAtFlagOff"] = summary.writtenAtFlagOff
        }
        return object
    }

    private static func tableCounts(_ counts: BackfillAudit.Counts) -> [String: Int] {
        ["programs": counts.programs, "sessions": counts.sessions, "sets": counts.sets, "versions": counts.versions]
    }

    static func text(_ summary: BackfillSummary) -> String {
        let c = summary.counts
        let audit = summary.audit
        var out = "backfill \(summary.kind.rawValue): run \(summary.runID.uuidString.lowercased())"
        if summary.resumed { out += " (resumed)" }
        out += summary.dryRun ? " - DRY RUN: nothing was written\n" : " - \(summary.status.rawValue)\n"
        switch summary.kind {
        case .programs:
            out += "  seen \(c.seen) = \(summary.dryRun ? "would migrate" : "migrated") \(c.migrated) + unchanged \(c.unchanged) + reported \(c.reported)\n"
        case .sessions:
            out += "  seen \(c.seen) = \(summary.dryRun ? "would link" : "linked") \(c.linked) + already linked \(c.alreadyLinked) + reported \(c.reported)\n"
            out += "  sets: \(summary.dryRun ? "would link" : "linked") \(c.setsLinked), reported \(c.setsReported)\n"
        case .legacy:
            out += "  seen \(c.seen) = \(summary.dryRun ? "would write" : "written") \(c.written) + unchanged \(c.unchanged) + reported \(c.reported)\n"
        }
        if !summary.reportsByReason.isEmpty {
            out += "  reported by reason: " + summary.reportsByReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + "\n"
            for report in summary.reports.prefix(10) {
                let subject = report.loggedSetID.map { "set \($0.uuidString.lowercased())" }
                    ?? report.sessionID.map { "session \($0.uuidString.lowercased())" }
                    ?? "program \(report.programID?.uuidString.lowercased() ?? "?")"
                out += "    \(subject) \(report.reason)\(report.path.map { " at \($0)" } ?? ""): \(report.detail)\n"
            }
            let total = summary.reportsByReason.values.reduce(0, +)
            if total > 10 {
                out += summary.dryRun
                    ? "    ... \(total - 10) more (--json lists the first 100)\n"
                    : "    ... \(total - 10) more: SELECT * FROM backfill_reports WHERE run_id = '\(summary.runID.uuidString.lowercased())'\n"
            }
        }
        if summary.throttledSeconds >= 0.1 {
            out += "  waited on throttle signals (pause, replica lag, autovacuum, throttle query): \(String(format: "%.1f", summary.throttledSeconds)) s\n"
        }
        if let backup = summary.backup {
            out += "  backup before the run: \(backup.folder) ("
                + backup.files.map { "\($0.table) \($0.rows) rows" }.joined(separator: ", ") + ", manifest.json)\n"
        }
        func yesNo(_ value: Bool) -> String { value ? "YES" : "NO" }
        out += "  programs \(audit.before.programs) -> \(audit.after.programs), sessions \(audit.before.sessions) -> \(audit.after.sessions), "
            + "sets \(audit.before.sets) -> \(audit.after.sets), versions \(audit.before.versions) -> \(audit.after.versions)\n"
        out += "  all programs preserved: \(yesNo(audit.programsPreserved))\n"
        out += "  all sessions preserved: \(yesNo(audit.sessionsPreserved))\n"
        out += "  all sets preserved: \(yesNo(audit.setsPreserved))\n"
        out += "  all links valid: \(yesNo(audit.linksValid))\(audit.linksValid ? "" : " (\(audit.invalidLinks) invalid)")\n"
        if summary.kind == .programs { out += "  versions created: \(summary.dryRun ? 0 : c.migrated)\n" }
        if summary.kind == .legacy {
            out += "  legacy JSON written back: \(summary.dryRun ? 0 : c.written) programs (each decodes to its latest version)\n"
            if summary.legacyReadOnlyTurnedOff {
                out += "  PROGRAM_VERSIONING_LEGACY_READONLY: on -> off, with \(summary.writtenAtFlagOff) programs saved during the run written back at the flip\n"
            }
        }
        out += "  reported: \(c.reported)\(summary.kind == .sessions ? " sessions, \(c.setsReported) sets" : "")\n"
        return out
    }
}
