import ArgumentParser
import Foundation
import Logging
import ProgramVersioningOps
import RuntimeFlags

/// `flags show|set|history`: the runtime rollout flags, their rules and their audit trail.
struct FlagsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flags",
        abstract: "Show, flip and audit PROGRAM_VERSIONING_WRITES, PROGRAM_VERSIONING_READS and PROGRAM_VERSIONING_LEGACY_READONLY.",
        subcommands: [Show.self, Set.self, RampCommand.self, History.self, Watch.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the flags as the store holds them, and the rollout phase they make.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let states = try await reportingErrors(connection: connection) {
                try await withPool(connection) { try await FlagStore(pool: $0).states() }
            }
            if json {
                try printJSON(flagsJSON(states))
            } else {
                for state in states {
                    let percent = state.name == .reads && state.enabled ? " (\(state.percent)% of users)" : ""
                    print("\(state.name.rawValue) \(state.enabled ? "on" : "off")\(percent)  since \(iso8601(state.updatedAt)) by \(state.updatedBy)")
                }
                print("phase \(RolloutPhase.describe(phase(of: states)))")
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Flip a flag. Refused (exit 1) when a rollout rule forbids it; see docs/runbook.md.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "PROGRAM_VERSIONING_WRITES, PROGRAM_VERSIONING_READS or PROGRAM_VERSIONING_LEGACY_READONLY (or writes / reads / legacy-readonly).")
        var name: String
        @Argument(help: "on or off.") var state: String
        @Option(parsing: .unconditional, help: "READS only: the share of users, 0-100 (default 100 when turning it on).")
        var percent: Int?
        @Option(help: "How old the clean check this flag's gate relies on may be (e.g. 12h, 2d; stored with the flag; default 24h). A longer age needs --reason.")
        var maxCheckAge: DurationArgument?
        @Option(help: "Why, for the audit trail (required with --force).") var reason: String?
        @Option(help: "Who, for the audit trail (default: the OS user).") var actor: String?
        @Flag(help: "Turn READS or LEGACY_READONLY on without fresh clean-check evidence (needs --reason).") var force = false
        @Flag(help: "Print the rules the flip is checked against and the verdict; change nothing (exit 1 if it would be refused).")
        var dryRun = false

        func validate() throws {
            guard FlagName(argument: name) != nil else {
                throw ValidationError(
                    "unknown flag '\(name)'; use PROGRAM_VERSIONING_WRITES, PROGRAM_VERSIONING_READS or PROGRAM_VERSIONING_LEGACY_READONLY")
            }
            guard ["on", "off"].contains(state.lowercased()) else { throw ValidationError("the state must be on or off, not '\(state)'") }
            if let percent, !(0...100).contains(percent) { throw ValidationError("--percent must be between 0 and 100") }
            if percent != nil, FlagName(argument: name) != .reads { throw ValidationError("--percent applies to PROGRAM_VERSIONING_READS only") }
            if let maxCheckAge, maxCheckAge.off || maxCheckAge.duration < .seconds(60) {
                throw ValidationError("--max-check-age must be a minute or more (e.g. 12h, 2d)")
            }
        }

        func run() async throws {
            let flag = FlagName(argument: name)!
            let enabled = state.lowercased() == "on"
            let who = actor ?? ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
            if dryRun {
                let result = try await reportingErrors(connection: connection) {
                    try await withPool(connection) { pool in
                        try await FlagStore(pool: pool).dryRun(
                            flag, enabled: enabled, percent: percent, maxCheckAge: maxCheckAge?.duration, actor: who, reason: reason, force: force)
                    }
                }
                print(FlagDryRunText(result).lines.joined(separator: "\n"))
                if case .failure = result.verdict { throw ExitCode(1) }
                return
            }
            do {
                let change = try await reportingErrors(connection: connection, passing: FlagChangeRefused.self) {
                    try await withPool(connection) { pool in
                        try await FlagStore(pool: pool).set(
                            flag, enabled: enabled, percent: percent, maxCheckAge: maxCheckAge?.duration, actor: who, reason: reason, force: force)
                    }
                }
                let percentText = flag == .reads && change.new.enabled ? " (\(change.new.percent)%)" : ""
                let ageChanged = change.old.maxCheckAge != change.new.maxCheckAge
                let unchanged = change.old.enabled == change.new.enabled && change.old.percent == change.new.percent && !ageChanged
                print("\(flag.rawValue): \(change.old.enabled ? "on" : "off") -> \(change.new.enabled ? "on" : "off")\(percentText)"
                    + (unchanged ? " (already so: nothing changed, nothing audited)" : ""))
                if ageChanged {
                    print("max check age: \(ageText(change.old.maxCheckAge)) -> \(ageText(change.new.maxCheckAge))")
                }
                if flag == .writes, change.old.enabled, !change.new.enabled {
                    FileHandle.standardError.write(Data((FlagDryRunText.writesOffWarning + "\n").utf8))
                }
                let now = try await reportingErrors(connection: connection) {
                    try await withPool(connection) { try await FlagStore(pool: $0).snapshot() }
                }
                print("phase \(RolloutPhase.describe(now.phase))")
            } catch let refused as FlagChangeRefused {
                FileHandle.standardError.write(Data("program-versioning: \(refused)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every flip, newest first.")
        @OptionGroup var connection: ConnectionOptions
        @Option(parsing: .unconditional, help: "How many entries.") var limit = 50
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let entries = try await reportingErrors(connection: connection) {
                try await withPool(connection) { try await FlagStore(pool: $0).history(limit: limit) }
            }
            if json {
                try printJSON(entries.map { entry -> [String: Any] in
                    var object: [String: Any] = [
                        "name": entry.name, "newEnabled": entry.newEnabled, "newPercent": entry.newPercent, "actor": entry.actor,
                        "forced": entry.forced, "changedAt": iso8601(entry.changedAt),
                    ]
                    object["phaseAfter"] = entry.phaseAfter
                    object["login"] = entry.login
                    object["oldEnabled"] = entry.oldEnabled
                    object["oldPercent"] = entry.oldPercent
                    object["reason"] = entry.reason
                    return object
                })
            } else {
                for entry in entries {
                    let old = entry.oldEnabled.map { $0 ? "on" : "off" } ?? "?"
                    let reason = entry.reason.map { " reason: \($0)" } ?? ""
                    let percent = entry.name == FlagName.reads.rawValue ? " (\(entry.newPercent)%)" : ""
                    let phase = entry.phaseAfter.map { "  [phase \(RolloutPhase.describe($0))]" } ?? ""
                    let who = entry.login.map { $0 == entry.actor ? $0 : "\(entry.actor) (login \($0))" } ?? entry.actor
                    print("\(iso8601(entry.changedAt)) \(entry.name) \(old) -> \(entry.newEnabled ? "on" : "off")\(percent) by \(who)\(entry.forced ? " FORCED" : "")\(reason)\(phase)")
                }
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow the flags as an app instance does and print every change (until interrupted or --for ends).")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Stop after this many seconds.") var `for`: Double?

        func run() async throws {
            try await reportingErrors(connection: connection) {
                let source = DatabaseFlagSource(
                    connectionString: connection.connectionString, logger: Logger(label: "program-versioning.flags"),
                    onChange: { snapshot in
                        // Written at once, whole lines: a reader on a pipe sees each change when it happens.
                        let line = "\(Date().formatted(.iso8601.time(includingFractionalSeconds: true))) \(snapshot)\n"
                        FileHandle.standardOutput.write(Data(line.utf8))
                    })
                // The source follows the store in a child task; the command ends it after `--for`.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await source.run() }
                    if let seconds = `for` {
                        try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                    } else {
                        while true { try await Task.sleep(for: .seconds(3600)) }
                    }
                    group.cancelAll()
                }
            }
        }
    }
}

/// The flags as `flags show --json` prints them (DESIGN.md §5).
func flagsJSON(_ states: [FlagState]) -> [String: Any] {
    var object: [String: Any] = [:]
    for state in states {
        var entry: [String: Any] = [
            "enabled": state.enabled, "updatedAt": iso8601(state.updatedAt), "updatedBy": state.updatedBy,
            "maxCheckAgeSeconds": Int(state.maxCheckAge.components.seconds),
        ]
        if state.name == .reads { entry["percent"] = state.percent }
        object[state.name.rawValue] = entry
    }
    return object
}

/// The phase the stored flags make (DESIGN.md §1).
private func phase(of states: [FlagState]) -> Int {
    func on(_ name: FlagName) -> Bool { states.first { $0.name == name }?.enabled ?? false }
    return FlagSnapshot(writes: on(.writes), reads: on(.reads), legacyReadOnly: on(.legacyReadOnly)).phase
}

/// Rollout phases as the runbook names them.
enum RolloutPhase {
    static func describe(_ phase: Int) -> String {
        switch phase {
        case 1: "1 (legacy: WRITES off, READS off)"
        case 2, 3: "2-3 (dual write and backfill: WRITES on, READS off)"
        case 4: "4 (read switch: WRITES on, READS on)"
        default: "5 (legacy read-only: versions are the source of truth)"
        }
    }
}

/// An age as a person reads it, as the flag store words it too: "40 s", "12 min", "3.5 h", "2.1 d".
func ageText(_ duration: Duration) -> String {
    let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    func trimmed(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded))" : String(format: "%.1f", rounded)
    }
    switch seconds {
    case ..<120: return "\(Int(seconds.rounded())) s"
    case ..<7_200: return "\(Int((seconds / 60).rounded())) min"
    case ..<172_800: return "\(trimmed(seconds / 3_600)) h"
    default: return "\(trimmed(seconds / 86_400)) d"
    }
}

func iso8601(_ date: Date) -> String {
    date.formatted(.iso8601)
}

func printJSON(_ value: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: data, as: UTF8.self))
}
