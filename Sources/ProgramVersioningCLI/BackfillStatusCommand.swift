import ArgumentParser
import Foundation
import ProgramVersioning
import ProgramVersioningOps

extension BackfillCommand {
    typealias Pause = PauseCommand<BackfillRuns>
    typealias Resume = ResumeCommand<BackfillRuns>
    typealias Tune = TuneCommand<BackfillRuns>

    /// `backfill status`: the control row and the latest runs as they really are.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the latest backfill runs (RUNNING, STALE, SUCCEEDED, FAILED, INTERRUPTED) and whether backfills are paused.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() async throws {
            let status = try await reportingErrors(connection: connection) {
                try await withPool(connection) { try await BackfillStatus.load(pool: $0) }
            }
            if json {
                try printJSON(Self.json(status))
            } else {
                print(Self.text(status), terminator: "")
            }
        }

        static func json(_ status: BackfillStatus) -> [String: Any] {
            [
                "control": [
                    "paused": status.control.paused, "batchSize": status.control.batchSize ?? NSNull(),
                    "reason": status.control.reason ?? NSNull(), "changedBy": status.control.changedBy,
                    "changedAt": iso8601(status.control.changedAt),
                ],
                "runs": status.runs.map { run in
                    [
                        "runId": run.id.uuidString.lowercased(), "kind": run.kind.rawValue, "state": run.state.rawValue,
                        "startedAt": iso8601(run.startedAt), "finishedAt": run.finishedAt.map(iso8601) ?? NSNull(),
                        "heartbeatAt": run.heartbeatAt.map(iso8601) ?? NSNull(),
                        "secondsSinceHeartbeat": run.secondsSinceHeartbeat ?? NSNull(), "client": run.client ?? NSNull(),
                        "seen": run.seen, "total": run.total ?? NSNull(), "reported": run.reported,
                        "batchSize": run.batchSize ?? NSNull(), "deferred": run.deferred, "workers": run.workers, "throttled": run.throttled ?? NSNull(),
                        "throttledSeconds": run.throttledSeconds ?? NSNull(), "error": run.error ?? NSNull(),
                    ] as [String: Any]
                },
            ]
        }

        static func text(_ status: BackfillStatus) -> String {
            let control = status.control
            var out = control.paused
                ? "backfills PAUSED by \(control.changedBy) at \(iso8601(control.changedAt))\(control.reason.map { " (\($0))" } ?? ""); "
                    + "program-versioning backfill resume to go on\n"
                : "backfills not paused\n"
            if let size = control.batchSize { out += "batch size set by \(control.changedBy): \(size)\n" }
            if status.runs.isEmpty { out += "no backfill has run yet\n" }
            for run in status.runs {
                let progress = run.total.map { total in "\(run.seen)/\(total)" } ?? "\(run.seen)"
                out += "\(run.state.rawValue) \(run.kind.rawValue) run \(run.id.uuidString.lowercased()): \(progress) seen, \(run.reported) reported"
                out += ", started \(iso8601(run.startedAt))"
                if let finished = run.finishedAt { out += ", ended \(iso8601(finished))" }
                out += "\n"
                if run.state == .running || run.state == .stale {
                    var line = "  "
                    if let client = run.client { line += "by \(client), " }
                    if let since = run.secondsSinceHeartbeat { line += "last heartbeat \(Int(since.rounded())) s ago" }
                    if let size = run.batchSize { line += ", batch size \(size)" }
                    if run.workers > 1 { line += ", \(run.workers) workers (resume with --workers \(run.workers))" }
                    if run.deferred > 0 { line += ", \(run.deferred) rows to come back for" }
                    out += line + "\n"
                }
                if let throttled = run.throttled { out += "  waiting: \(throttled)\n" }
                if run.state == .stale {
                    out += "  its process is gone (no session holds the backfill lock); the next backfill \(run.kind.rawValue) resumes it\n"
                } else if let error = run.error, run.state != .succeeded {
                    out += "  \(error)\n"
                }
            }
            return out
        }
    }
}
