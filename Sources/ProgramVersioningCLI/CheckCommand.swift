import ArgumentParser
import Foundation
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags

/// `check`: the consistency report, nightly and before flipping READS; `check pause|resume|
/// tune|status` control and show running checks.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Compare every legacy program with its latest version and check session links.",
        discussion: "Exit 0: no differences; 1: differences found; 2: the check could not run. Each run and its findings are stored.",
        subcommands: [Run.self, Pause.self, Resume.self, Tune.self, Status.self],
        defaultSubcommand: Run.self
    )

    typealias Pause = PauseCommand<CheckRuns>
    typealias Resume = ResumeCommand<CheckRuns>
    typealias Tune = TuneCommand<CheckRuns>

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, markdown, html
    }
}

extension CheckCommand {
    /// The check itself (also what plain `check` runs).
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run the consistency check (the default: `check` alone does this).",
            discussion: """
                Exit 0: no differences; 1: differences found; 2: the check could not run. Each run and its findings are \
                stored. A check reads page by page and can read a hot standby: --record-url names the primary to record \
                the run in (without it, on a read-only database, the report is printed and not stored). A check that is \
                killed or interrupted (SIGINT/SIGTERM) resumes where it stopped at the next run of the same scope.
                """)

        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Report format: text, json, markdown or html (one self-contained page).") var format: Format = .text
        @Option(help: "Write the report to this file instead of stdout.") var output: String?
        @Option(help: "Only this user's programs and sessions.") var user: String?
        @Option(parsing: .unconditional, help: "Programs per page; without it each page is sized to --target-batch-duration.")
        var pageSize: Int?
        @Option(help: "JSON file of known, accepted differences (each with a reason); they are reported as ignored.")
        var ignoreFile: String?
        @Flag(help: "After the check, give programs found MISSING_VERSION or STALE_VERSION their next version from legacy (needs READS off).")
        var repair = false
        @Option(help: "Record the run (and its progress) in this database, the primary, while --database-url reads a hot standby.")
        var recordURL: String?
        @OptionGroup(title: "Throttling") var throttle: ThrottleArguments

        func validate() throws {
            if let user, UUID(uuidString: user) == nil { throw ValidationError("--user must be a UUID, got \"\(user)\"") }
            if let pageSize, !(1...50_000).contains(pageSize) { throw ValidationError("--page-size must be between 1 and 50000") }
            if repair, recordURL != nil { throw ValidationError("--repair writes versions: run it against the primary, without --record-url") }
        }

        func run() async throws {
            // A report that cannot be written is known before the check runs, not after.
            if let output {
                try await reportingErrors {
                    let files = FileManager.default
                    var isFolder: ObjCBool = false
                    let folder = URL(fileURLWithPath: output).deletingLastPathComponent().path
                    let writable = files.fileExists(atPath: output, isDirectory: &isFolder)
                        ? !isFolder.boolValue && files.isWritableFile(atPath: output)
                        : files.isWritableFile(atPath: folder)
                    guard writable else {
                        throw OperatorError("cannot write the report to \(output) (no such folder, a folder, or not writable); nothing was checked")
                    }
                }
            }
            let progress = CheckProgressLine(toTerminal: isatty(STDERR_FILENO) == 1)
            let signals = StopOnSignals("the check")
            defer { signals.uninstall() }
            var recordConnection = ConnectionOptions()
            recordConnection.databaseURL = recordURL
            let report = try await reportingErrors(connection: recordURL == nil ? connection : recordConnection) {
                var ignoreList = CheckIgnoreList()
                if let ignoreFile {
                    do throws(CheckIgnoreList.FileError) {
                        ignoreList = try CheckIgnoreList(file: ignoreFile)
                    } catch {
                        throw OperatorError("\(error.description); nothing was checked")
                    }
                }
                var throttleOptions = throttle.options
                throttleOptions.pauseDuringAutovacuum = false  // the check writes no table of the app
                let options = CheckOptions(
                    userID: user.flatMap(UUID.init(uuidString:)), pageSize: pageSize, ignoreList: ignoreList, throttle: throttleOptions)
                // Three walks read at once (two over the programs, one over the sessions), and
                // their progress is recorded as they go: four connections.
                return try await withPool(connection, maxConnections: 4) { pool in
                    if repair {
                        // Refused before checking, not after: the operator learns it at once.
                        if try await FlagStore(pool: pool).snapshot().reads { throw BackfillError.readsOn }
                    }
                    guard recordURL != nil else {
                        return try await ConsistencyCheck(pool: pool).run(options, stop: signals.stop) { progress.update($0) }
                    }
                    return try await withPool(recordConnection, maxConnections: 2) { recordPool in
                        try await ConsistencyCheck(pool: pool, recordPool: recordPool).run(options, stop: signals.stop) { progress.update($0) }
                    }
                }
            }
            progress.finish()
            let text: String = switch format {
            case .text: CheckReportOutput.text(report)
            case .json: try CheckReportOutput.json(report)
            case .markdown: CheckReportOutput.markdown(report)
            case .html: CheckReportHTML.page(report)
            }
            if let output {
                try await reportingErrors {
                    do {
                        try Data(text.utf8).write(to: URL(fileURLWithPath: output))
                    } catch {
                        throw OperatorError("cannot write the report to \(output): \(error.localizedDescription); the run is stored as \(report.runID.uuidString.lowercased())")
                    }
                }
            } else {
                print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            }
            if let why = report.notStoredBecause {
                FileHandle.standardError.write(Data("program-versioning: the run was not stored: \(why)\n".utf8))
            }
            if repair { try await repairVersions(found: report) }
            if !report.isClean { throw ExitCode(1) }
        }

    /// The explicit repair: never automatic, recorded as a backfill run naming the check run.
    private func repairVersions(found report: CheckReport) async throws {
        let programs = Set(report.differences.filter {
            ($0.kind == .missingVersion || $0.kind == .staleVersion) && $0.ignoredBecause == nil
        }.compactMap(\.programID))
        guard !programs.isEmpty else {
            FileHandle.standardError.write(Data("repair: nothing to repair (no MISSING_VERSION or STALE_VERSION)\n".utf8))
            return
        }
        let summary = try await reportingErrors(connection: connection) {
            try await withPool(connection) { pool in
                try await Backfill(pool: pool).repair(programIDs: Array(programs), checkRunID: report.runID)
            }
        }
        let line = "repair: \(summary.counts.migrated) of \(programs.count) programs given their next version, "
            + "\(summary.counts.unchanged) already current, \(summary.counts.reported) reported "
            + "(backfill run \(summary.runID.uuidString.lowercased())); run check again to confirm\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
}

/// How a check report is written: text (summary first), JSON (DESIGN.md §5), Markdown.
enum CheckReportOutput {
    static func json(_ report: CheckReport) throws -> String {
        let new = report.newKeys
        let object: [String: Any] = [
            "runId": report.runID.uuidString.lowercased(),
            "startedAt": iso8601(report.startedAt), "finishedAt": iso8601(report.finishedAt),
            "flags": [
                "PROGRAM_VERSIONING_WRITES": ["enabled": report.writes],
                "PROGRAM_VERSIONING_READS": ["enabled": report.reads, "percent": report.readPercent],
                "PROGRAM_VERSIONING_LEGACY_READONLY": ["enabled": report.legacyReadOnly],
            ],
            "phase": phase(report),
            "readFrom": report.readFrom, "dataAsOf": report.dataAsOf.map(iso8601) ?? NSNull(), "resumed": report.resumed,
            "stored": report.stored,
            "legacyBehind": report.legacyBehind,
            "legacyRetired": report.legacyRetired,
            "shadowReads": report.shadowReads.map { summary -> [String: Any] in
                ["compared": summary.compared, "mismatched": summary.mismatched,
                 "consistencyPercent": summary.consistencyPercent ?? NSNull(), "since": iso8601(summary.since)]
            } ?? NSNull(),
            "user": report.userID.map { $0.uuidString.lowercased() } ?? NSNull(),
            "programsChecked": report.programsChecked, "sessionsChecked": report.sessionsChecked,
            "differenceCount": report.differenceCount,
            "ignoredCount": report.ignoredCount,
            "differencesListed": report.differences.count,
            "previousRunId": report.comparison.map { $0.previousRunID.uuidString.lowercased() } ?? NSNull(),
            "newSinceLastRun": report.comparison.map { $0.new.count } ?? NSNull(),
            "fixedSinceLastRun": report.comparison.map { $0.fixed.count } ?? NSNull(),
            "new": report.comparison?.new.prefix(100).map { $0 } ?? [],
            "fixed": report.comparison?.fixed.prefix(100).map { $0 } ?? [],
            "trend": report.trend.map {
                ["runId": $0.runID.uuidString.lowercased(), "finishedAt": iso8601($0.finishedAt), "differenceCount": $0.differenceCount,
                 "ignoredCount": $0.ignoredCount]
            },
            "countsByKind": Dictionary(uniqueKeysWithValues: report.countsByKind.map { ($0.key.rawValue, $0.value) }),
            "differences": report.differences.map { difference in
                [
                    "programId": difference.programID.map { $0.uuidString.lowercased() } ?? NSNull(),
                    "kind": difference.kind.rawValue, "path": difference.path ?? NSNull(),
                    "legacy": difference.legacy ?? NSNull(), "versioned": difference.versioned ?? NSNull(),
                    "ignored": difference.ignoredBecause != nil, "ignoreReason": difference.ignoredBecause ?? NSNull(),
                    "new": new.contains(difference.key),
                ] as [String: Any]
            },
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func text(_ report: CheckReport) -> String {
        var out = summaryLine(report) + "\n"
        out += "  flags: " + flagsLine(report) + "\n"
        if let line = phaseFiveLine(report) { out += "  \(line)\n" }
        out += "  run \(report.runID.uuidString.lowercased()), \(iso8601(report.startedAt)) to \(iso8601(report.finishedAt))"
            + (report.resumed ? " (resumed where an earlier run stopped)" : "") + "\n"
        if let line = sourceLine(report) { out += "  \(line)\n" }
        out += "  " + comparisonLine(report) + "\n"
        if let line = shadowLine(report) { out += "  \(line)\n" }
        for (kind, count) in report.countsByKind.sorted(by: { $0.key < $1.key }) { out += "  \(kind.rawValue): \(count)\n" }
        if report.ignoredCount > 0 { out += "  ignored (known, accepted): \(report.ignoredCount)\n" }
        let new = report.newKeys
        for difference in report.differences.prefix(50) { out += "  " + line(difference, new: new.contains(difference.key)) + "\n" }
        if report.differences.count > 50 || report.differenceCount + report.ignoredCount > report.differences.count {
            let shown = min(50, report.differences.count)
            out += "  ... \(report.differenceCount + report.ignoredCount - shown) more (new ones first): "
                + "SELECT findings FROM check_runs WHERE id = '\(report.runID.uuidString.lowercased())'\n"
        }
        if let fixed = report.comparison?.fixed, !fixed.isEmpty {
            out += "  fixed since the last run: " + fixed.prefix(10).joined(separator: "; ")
                + (fixed.count > 10 ? "; ... \(fixed.count - 10) more" : "") + "\n"
        }
        return out
    }

    /// One finding on one line: NEW when the last run did not have it, each value named for
    /// what it is (a session link's problem is not a legacy value).
    static func line(_ difference: CheckDifference, new: Bool) -> String {
        var out = new ? "NEW " : ""
        out += "\(difference.programID.map { $0.uuidString.lowercased() } ?? "-") \(difference.kind.rawValue)"
        if let path = difference.path { out += " \(path)" }
        let labels = difference.kind.sideLabels
        let sides = [(labels.legacy, difference.legacy), (labels.versioned, difference.versioned)].compactMap { label, value in
            value.map { "\(label) \($0)" }
        }
        if !sides.isEmpty { out += ": " + sides.joined(separator: ", ") }
        if let reason = difference.ignoredBecause { out += " (ignored: \(reason))" }
        return out
    }

    static func markdown(_ report: CheckReport) -> String {
        var out = "### Consistency check: \(report.isClean ? "clean" : "\(report.differenceCount) difference(s)")\n\n"
        out += "- run `\(report.runID.uuidString.lowercased())`, \(iso8601(report.startedAt)) to \(iso8601(report.finishedAt))\n"
        out += "- flags: " + flagsLine(report) + "\n"
        if let line = phaseFiveLine(report) { out += "- \(line)\n" }
        out += "- checked: \(report.programsChecked) programs, \(report.sessionsChecked) sessions\n"
        out += "- " + comparisonLine(report) + "\n"
        if let line = shadowLine(report) { out += "- \(line)\n" }
        if report.ignoredCount > 0 { out += "- ignored (known, accepted): \(report.ignoredCount)\n" }
        if !report.countsByKind.isEmpty {
            out += "\n| kind | count |\n|---|---:|\n"
            for (kind, count) in report.countsByKind.sorted(by: { $0.key < $1.key }) { out += "| \(kind.rawValue) | \(count) |\n" }
            out += "\n| | program | kind | path | one side | other side |\n|---|---|---|---|---|---|\n"
            func cell(_ value: String?) -> String {
                guard let value else { return "" }
                return "`" + value.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "`", with: "'") + "`"
            }
            func side(_ label: String, _ value: String?) -> String { value.map { "\(label): \(cell($0))" } ?? "" }
            let new = report.newKeys
            for difference in report.differences.prefix(100) {
                let labels = difference.kind.sideLabels
                let mark = difference.ignoredBecause != nil ? "ignored" : new.contains(difference.key) ? "**new**" : ""
                out += "| \(mark) | \(cell(difference.programID?.uuidString.lowercased())) | \(difference.kind.rawValue) | \(cell(difference.path)) "
                    + "| \(side(labels.legacy, difference.legacy)) | \(side(labels.versioned, difference.versioned)) |\n"
            }
            let listed = min(100, report.differences.count)
            if report.differenceCount + report.ignoredCount > listed {
                out += "\n\(report.differenceCount + report.ignoredCount - listed) more in `check_runs.findings` (new ones are listed first).\n"
            }
        }
        return out
    }

    static func phase(_ report: CheckReport) -> Int {
        FlagSnapshot(writes: report.writes, reads: report.reads, legacyReadOnly: report.legacyReadOnly).phase
    }

    static func flagsLine(_ report: CheckReport) -> String {
        "WRITES \(report.writes ? "on" : "off"), READS \(report.reads ? "on (\(report.readPercent)%)" : "off"), "
            + "LEGACY_READONLY \(report.legacyReadOnly ? "on" : "off") - phase \(RolloutPhase.describe(phase(report)))"
    }

    /// What phase 5 adds to a report: how far legacy is behind, or that it is retired.
    static func phaseFiveLine(_ report: CheckReport) -> String? {
        if report.legacyRetired { return "legacy retired: programs checked against their versions' own checksums, no legacy JSON compared" }
        guard report.legacyBehind > 0 else { return nil }
        return "legacy behind: \(report.legacyBehind) programs; run backfill legacy before rolling back"
    }

    /// Where the data came from when not the primary, and whether the run was recorded.
    static func sourceLine(_ report: CheckReport) -> String? {
        var parts: [String] = []
        if report.readFrom != "primary" {
            parts.append("read from \(report.readFrom)" + (report.dataAsOf.map { ", data as of \(iso8601($0))" } ?? ""))
        }
        if !report.stored { parts.append("NOT STORED: \(report.notStoredBecause ?? "read-only database")") }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// The app's view of the same consistency, from its shadow reads of the last hour.
    static func shadowLine(_ report: CheckReport) -> String? {
        guard let summary = report.shadowReads else { return nil }
        let rate = summary.consistencyPercent.map { String(format: "%.2f %%", $0) } ?? "-"
        return "app shadow reads, last hour: \(summary.compared) comparisons, \(rate) consistent, \(summary.mismatched) mismatched"
            + (summary.topMismatchPaths.first.map { " (most differing: \($0.path))" } ?? "")
    }

    static func comparisonLine(_ report: CheckReport) -> String {
        // Real differences and ignored ones apart: runs with and without an ignore file find the same data.
        let recent = report.trend.suffix(6)
        var trend = "trend of differences: " + recent.map { String($0.differenceCount) }.joined(separator: " -> ")
        if recent.contains(where: { $0.ignoredCount > 0 }) {
            trend += " (ignored: " + recent.map { String($0.ignoredCount) }.joined(separator: " -> ") + ")"
        }
        guard let comparison = report.comparison else { return "first run of this scope; \(trend)" }
        return "since the last run (\(iso8601(comparison.previousFinishedAt))): \(comparison.new.count) new (listed first), "
            + "\(comparison.fixed.count) fixed; \(trend)"
    }

    /// Programs with at least one difference not ignored (of those listed: all but the
    /// largest runs), so the count sits beside the backfill's count of reported programs.
    static func programsWithDifferences(_ report: CheckReport) -> String {
        let programs = Set(report.differences.lazy.filter { $0.ignoredBecause == nil }.compactMap(\.programID)).count
        let listedAll = report.differences.count >= report.differenceCount + report.ignoredCount
        return listedAll ? "\(programs)" : "at least \(programs)"
    }

    static func summaryLine(_ report: CheckReport) -> String {
        report.isClean
            ? "check: CLEAN - \(report.programsChecked) programs and \(report.sessionsChecked) sessions, no differences"
            : "check: \(report.differenceCount) DIFFERENCES in \(programsWithDifferences(report)) of \(report.programsChecked) programs "
                + "(\(report.sessionsChecked) sessions checked)"
    }
}
