import ArgumentParser
import Foundation
import ProgramVersioningOps
import RuntimeFlags

/// `status`: where the rollout stands and whether it is safe to go on (DESIGN.md §5).
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The phase, the flags, the last check and its age, backfill runs, shadow-read consistency, following app instances, and the next allowed step.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, html
    }

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print JSON (the same as --format json).") var json = false
    @Option(help: "text, json or html (one self-contained page with the rollout's timeline).") var format: Format = .text
    @Option(help: "Write to this file instead of stdout.") var output: String?

    func run() async throws {
        let (status, timeline) = try await reportingErrors(connection: connection) {
            try await withPool(connection) { pool in
                (try await RolloutStatus.load(pool: pool), format == .html ? try await RolloutTimeline.load(pool: pool) : nil)
            }
        }
        let text: String =
            if json || format == .json {
                String(decoding: try JSONSerialization.data(withJSONObject: StatusJSON(status).object, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self)
            } else if format == .html, let timeline {
                StatusHTML.page(status, timeline: timeline)
            } else {
                StatusText(status).lines.joined(separator: "\n")
            }
        guard let output else {
            print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            return
        }
        try await reportingErrors {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output))
            } catch {
                throw OperatorError("cannot write the status to \(output): \(error.localizedDescription)")
            }
        }
    }
}

/// `status --json`: DESIGN.md §5's keys, and more.
struct StatusJSON {
    var status: RolloutStatus
    init(_ status: RolloutStatus) { self.status = status }

    var object: [String: Any] {
        var object: [String: Any] = [
            "phase": status.phase,
            "flags": flagsJSON(status.flags),
            "lastCheck": status.lastCheck.map(lastCheck) ?? NSNull(),
            "backfillRuns": status.backfill.runs.map(backfillRun),
            "backfillPaused": status.backfill.control.paused,
            "followers": ["count": status.followers.count, "applications": status.followers.applications],
            "shadowReads": status.shadowReads.map(shadowReads) ?? NSNull(),
            "legacyRetired": status.legacyRetired,
            "gates": status.evidence.gates.map { gate -> [String: Any] in
                ["flag": gate.flag.rawValue, "maxCheckAgeSeconds": Int(gate.maxCheckAge.components.seconds), "open": gate.missing == nil,
                 "missing": gate.missing ?? NSNull()]
            },
            "readAt": iso8601(status.readAt),
        ]
        var next: [String: Any] = ["allowed": status.nextStep.allowed]
        if let command = status.nextStep.command { next["command"] = command }
        if let reason = status.nextStep.reason { next["reason"] = reason }
        if let then = status.nextStep.then { next["then"] = then }
        object["nextStep"] = next
        return object
    }

    private func lastCheck(_ check: RolloutStatus.LastCheck) -> [String: Any] {
        [
            "runId": check.runID.uuidString.lowercased(), "finishedAt": iso8601(check.finishedAt), "clean": check.clean,
            "ageSeconds": Int(check.age.components.seconds), "differenceCount": check.differenceCount, "countsByKind": check.countsByKind,
            "recordedBy": check.recordedBy ?? NSNull(), "countsAsEvidence": check.notEvidenceBecause == nil,
            "notEvidenceBecause": check.notEvidenceBecause ?? NSNull(),
        ]
    }

    private func backfillRun(_ run: BackfillStatus.Run) -> [String: Any] {
        [
            "runId": run.id.uuidString.lowercased(), "kind": run.kind.rawValue, "state": run.state.rawValue,
            "startedAt": iso8601(run.startedAt), "finishedAt": run.finishedAt.map(iso8601) ?? NSNull(), "seen": run.seen,
            "total": run.total ?? NSNull(), "reported": run.reported,
        ]
    }

    private func shadowReads(_ summary: ShadowReadSummary) -> [String: Any] {
        func value(_ number: Double?) -> Any { number.map { ($0 * 1000).rounded() / 1000 } ?? NSNull() }
        return [
            "since": iso8601(summary.since), "instances": summary.instances, "compared": summary.compared, "mismatched": summary.mismatched,
            "consistencyPercent": value(summary.consistencyPercent), "fallbackPercent": value(summary.fallbackPercent),
            "legacy": ["reads": summary.legacyReads, "errors": summary.legacyReadErrors, "errorPercent": value(summary.legacyErrorPercent),
                       "meanMilliseconds": value(summary.legacyMeanMilliseconds)],
            "versioned": ["reads": summary.versionedReads, "errors": summary.versionedReadErrors,
                          "errorPercent": value(summary.versionedErrorPercent), "meanMilliseconds": value(summary.versionedMeanMilliseconds)],
            "saves": summary.saves, "saveErrors": summary.saveErrors, "saveErrorPercent": value(summary.saveErrorPercent),
            "shadowErrors": summary.shadowErrors, "skipped": summary.skipped,
            "topMismatchPaths": summary.topMismatchPaths.map { ["path": $0.path, "count": $0.count] },
        ]
    }
}

/// `status` on a terminal: one line per subject.
struct StatusText {
    var status: RolloutStatus
    init(_ status: RolloutStatus) { self.status = status }

    var lines: [String] {
        var lines = ["phase      \(RolloutPhase.describe(status.phase))"]
        let flags = status.flags.map { flag in
            let short = flag.name.rawValue.replacingOccurrences(of: "PROGRAM_VERSIONING_", with: "")
            return "\(short) \(flag.enabled ? "on" : "off")" + (flag.name == .reads && flag.enabled ? " (\(flag.percent) %)" : "")
        }
        lines.append("flags      " + flags.joined(separator: " · "))
        if let check = status.lastCheck {
            let verdict = check.clean ? "clean" : "\(check.differenceCount) differences"
            let evidence = check.notEvidenceBecause.map { "not evidence: \($0)" } ?? "counts as evidence"
            lines.append("last check \(iso8601(check.finishedAt)) (\(ageText(check.age)) ago): \(verdict), by \(check.recordedBy ?? "?"); \(evidence)")
        } else {
            lines.append("last check none recorded")
        }
        for gate in status.evidence.gates {
            lines.append("gate       \(gate.flag.rawValue) accepts a check up to \(ageText(gate.maxCheckAge)) old: "
                + (gate.missing.map { "closed: \($0)" } ?? "open"))
        }
        lines.append("backfill   " + backfillLine)
        lines.append("shadow     " + shadowLine)
        let apps = status.followers.applications.filter { !$0.isEmpty }
        lines.append("followers  \(status.followers.count) app connection\(status.followers.count == 1 ? "" : "s") follow the flag store"
            + (apps.isEmpty ? "" : " (\(apps.joined(separator: ", ")))"))
        let next = status.nextStep
        if next.allowed, let command = next.command {
            lines.append("next       allowed: \(command)" + (next.reason.map { " (note: \($0))" } ?? ""))
        } else {
            lines.append("next       not yet: \(next.reason ?? "no step is allowed")")
            if let then = next.then { lines.append("           run: \(then)") }
        }
        return lines
    }

    private var backfillLine: String {
        var parts: [String] = []
        for kind in [BackfillKind.programs, .sessions, .legacy] {
            guard let run = status.backfill.runs.first(where: { $0.kind == kind }) else { continue }
            let total = run.total.map { " of \($0)" } ?? ""
            parts.append("\(kind.rawValue) \(run.state.rawValue) (seen \(run.seen)\(total), reported \(run.reported))")
        }
        if status.backfill.control.paused { parts.append("PAUSED by \(status.backfill.control.changedBy)") }
        return parts.isEmpty ? "no run yet" : parts.joined(separator: " · ")
    }

    private var shadowLine: String {
        guard let summary = status.shadowReads, summary.compared + summary.legacyReads + summary.versionedReads > 0 else {
            return "no shadow reads recorded in the last hour (an app records them with ShadowReads(recording:))"
        }
        func percent(_ value: Double?) -> String { value.map { String(format: "%.2f %%", $0) } ?? "-" }
        var line = "last hour: \(summary.compared) comparisons, \(percent(summary.consistencyPercent)) consistent"
        if let top = summary.topMismatchPaths.first { line += " (most differing: \(top.path) ×\(top.count))" }
        line += "; fallbacks \(percent(summary.fallbackPercent)); read errors legacy \(percent(summary.legacyErrorPercent))"
            + " / versions \(percent(summary.versionedErrorPercent)); save errors \(percent(summary.saveErrorPercent))"
        return line
    }
}
