import ArgumentParser
import Foundation
import ProgramVersioning
import ProgramVersioningOps

extension CheckCommand {
    /// `check status`: whether checks are paused, the unfinished ones, the latest finished.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show whether checks are paused, the checks not finished (RUNNING, STALE, INTERRUPTED, FAILED) and the latest runs.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Print JSON instead of text.") var json = false

        func run() async throws {
            let status = try await reportingErrors(connection: connection) {
                try await withPool(connection) { try await CheckStatus.load(pool: $0) }
            }
            if json {
                try printJSON([
                    "control": ["paused": status.control.paused, "batchSize": status.control.batchSize ?? NSNull(),
                                "reason": status.control.reason ?? NSNull(), "changedBy": status.control.changedBy],
                    "unfinished": status.unfinished.map { run in
                        [
                            "runId": run.runID.uuidString.lowercased(), "state": run.state.rawValue, "startedAt": iso8601(run.startedAt),
                            "readFrom": run.readFrom ?? NSNull(), "recordedBy": run.recordedBy, "programsChecked": run.programsChecked,
                            "sessionsChecked": run.sessionsChecked, "total": run.total ?? NSNull(),
                            "secondsSinceHeartbeat": run.secondsSinceHeartbeat, "throttled": run.throttled ?? NSNull(),
                            "error": run.error ?? NSNull(),
                        ] as [String: Any]
                    },
                    "finished": status.finished.map { run in
                        [
                            "runId": run.runID.uuidString.lowercased(), "status": run.status.rawValue,
                            "finishedAt": run.finishedAt.map(iso8601) ?? NSNull(), "differenceCount": run.differenceCount,
                            "readFrom": run.readFrom ?? NSNull(), "recordedBy": run.recordedBy ?? NSNull(),
                        ] as [String: Any]
                    },
                ] as [String: Any])
                return
            }
            let control = status.control
            var out = control.paused
                ? "checks PAUSED by \(control.changedBy) at \(iso8601(control.changedAt))\(control.reason.map { " (\($0))" } ?? ""); "
                    + "program-versioning check resume to go on\n"
                : "checks not paused\n"
            if let size = control.batchSize { out += "page size set by \(control.changedBy): \(size)\n" }
            for run in status.unfinished {
                let done = run.programsChecked + run.sessionsChecked
                out += "\(run.state.rawValue) check \(run.runID.uuidString.lowercased()) by \(run.recordedBy): \(done)/\(run.total.map(String.init) ?? "?") "
                    + "records checked, started \(iso8601(run.startedAt))\(run.readFrom.map { ", reading \($0)" } ?? "")"
                    + ", last heartbeat \(Int(run.secondsSinceHeartbeat.rounded())) s ago\n"
                if let throttled = run.throttled { out += "  waiting: \(throttled)\n" }
                if run.state != .running { out += "  the next check of this scope by \(run.recordedBy) resumes it\n" }
            }
            for run in status.finished {
                out += "\(run.status.rawValue) check \(run.runID.uuidString.lowercased()), finished \(run.finishedAt.map(iso8601) ?? "-"), "
                    + "\(run.differenceCount) differences\(run.readFrom.map { ", read from \($0)" } ?? "")\n"
            }
            print(out, terminator: "")
        }
    }
}
