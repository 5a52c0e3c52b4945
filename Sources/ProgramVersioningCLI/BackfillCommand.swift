import ArgumentParser
import Foundation
import ProgramVersioning
import ProgramVersioningOps

/// `backfill programs|sessions`: phase 3 of the rollout; `backfill legacy`: the way back
/// from phase 5.
struct BackfillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Turn legacy programs into versions and link old sessions (or, back from phase 5, versions into legacy JSON); report what cannot be migrated.",
        discussion: """
            Idempotent and resumable: run it again after a kill or an error and it continues after the last \
            committed batch; re-running over migrated data changes nothing. Exit 0 when every record was migrated \
            or reported, 2 on error.
            """,
        subcommands: [Programs.self, Sessions.self, Legacy.self, Pause.self, Resume.self, Tune.self, Status.self]
    )

    struct RunOptions: ParsableArguments {
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Compute and print exactly what would happen; write nothing.") var dryRun = false
        @Option(parsing: .unconditional, help: "Records per batch (one transaction each); without it each batch is sized to --target-batch-duration.")
        var batchSize: Int?
        @Option(help: "Only this user's records.") var user: String?
        @Option(parsing: .unconditional, help: "Stop after this many records.") var limit: Int?
        @Flag(help: "Print one JSON summary instead of text.") var json = false
        @Option(help: "Copy the legacy tables this run touches into a folder here (COPY files + manifest.json) before changing anything.")
        var backup: String?
        @OptionGroup(title: "Throttling") var throttle: ThrottleArguments
        @Option(help: "The longest a statement waits for a lock; a batch that waits longer is rolled back and tried again.")
        var lockTimeout = DurationArgument(.milliseconds(500))
        @Option(help: "The longest any one statement may run.") var statementTimeout = DurationArgument(.seconds(300))
        @Option(help: "After the last batch, how long to keep coming back for rows other transactions held (then they are reported ROW_LOCKED).")
        var lockedRowPatience = DurationArgument(.seconds(30))

        func validate() throws {
            if let batchSize, !(1...100_000).contains(batchSize) { throw ValidationError("--batch-size must be between 1 and 100000") }
            if let limit, limit < 1 { throw ValidationError("--limit must be 1 or more") }
            if let user, UUID(uuidString: user) == nil { throw ValidationError("--user must be a UUID, got \"\(user)\"") }
            for (name, value) in [("--lock-timeout", lockTimeout), ("--statement-timeout", statementTimeout)]
            where value.off || value.duration < .milliseconds(1) {
                throw ValidationError("\(name) must be 1ms or more (a bound is the point)")
            }
            if lockedRowPatience.off { throw ValidationError("--locked-row-patience takes a duration (0s: report at once)") }
        }

        func options(allowWritesOff: Bool = false) -> BackfillOptions {
            BackfillOptions(
                dryRun: dryRun, batchSize: batchSize, userID: user.flatMap(UUID.init(uuidString:)), limit: limit,
                allowWritesOff: allowWritesOff, backupDirectory: backup, throttle: throttle.options, lockTimeout: lockTimeout.duration,
                statementTimeout: statementTimeout.duration, lockedRowPatience: lockedRowPatience.duration)
        }
    }

    struct Programs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give each legacy program without a current version its next version (or report why it cannot).")
        @OptionGroup var run: RunOptions
        @Flag(help: "Run although PROGRAM_VERSIONING_WRITES is off (the app's saves would leave these versions stale).")
        var allowWritesOff = false
        @Option(parsing: .unconditional, help: ArgumentHelp(
            "Walk the programs in this many key ranges at once, each on its own connection (one more holds the run).",
            discussion: "An unfinished run resumes only with the number it started with."))
        var workers = 1

        func validate() throws {
            if workers > 32 { throw ValidationError("--workers must be 32 or fewer, got \(workers)") }
            if let why = options.workersProblem(for: .programs) { throw ValidationError(why) }
        }

        private var options: BackfillOptions {
            var options = run.options(allowWritesOff: allowWritesOff)
            options.workers = workers
            return options
        }

        func run() async throws {
            try await runBackfill(.programs, run, options: options)
        }
    }

    struct Sessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Link old sessions and sets to the version rows they ran against (or report why they cannot be).")
        @OptionGroup var run: RunOptions

        func run() async throws {
            try await runBackfill(.sessions, run, options: run.options())
        }
    }
}

extension BackfillCommand {
    struct Legacy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Phase 5's way back: regenerate the legacy JSON of every program whose latest version is newer than it.",
            discussion: """
                Run it before turning PROGRAM_VERSIONING_LEGACY_READONLY off (the flag store refuses until no program's \
                legacy JSON is behind). The JSON written decodes to exactly the version's content, the app's unknown keys \
                included; --backup copies programs first.
                """)
        @OptionGroup var run: BackfillCommand.RunOptions
        @Flag(help: "Then turn PROGRAM_VERSIONING_LEGACY_READONLY off, together with the write-back of what the app saved during the run (saves wait for that last step only).")
        var flagOff = false
        @Option(help: "With --flag-off: why, for the audit trail.") var reason: String?
        @Option(help: "With --flag-off: who, for the audit trail (default: the OS user).") var actor: String?

        func validate() throws {
            guard flagOff else { return }
            if run.dryRun { throw ValidationError("--flag-off cannot be combined with --dry-run") }
            if run.user != nil || run.limit != nil {
                throw ValidationError("--flag-off needs the whole write-back: drop --user and --limit")
            }
        }

        func run() async throws {
            var options = run.options()
            if flagOff {
                let who = actor ?? ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
                options.turnLegacyReadOnlyOff = FlagFlipRequest(actor: who, reason: reason)
            }
            try await runBackfill(.legacy, run, options: options)
        }
    }
}

private func runBackfill(_ kind: BackfillKind, _ run: BackfillCommand.RunOptions, options: BackfillOptions) async throws {
    let progress = ProgressLine(kind: kind, toTerminal: isatty(STDERR_FILENO) == 1)
    let signals = StopOnSignals("the backfill")
    defer { signals.uninstall() }
    let summary = try await reportingErrors(connection: run.connection) {
        do {
            // backfill legacy reads two pages ahead of the one it writes: three connections;
            // --workers N: the run's own and one per worker.
            return try await withPool(run.connection, maxConnections: kind == .legacy ? 3 : max(2, options.workers + 1)) { pool in
                try await Backfill(pool: pool).run(kind, options: options, stop: signals.stop) { progress.update($0) }
            }
        } catch BackfillError.flagOffRefused(let runID, let refused) {
            // The write-back is done and kept; only the flip was refused: exit 1, as for any refused flip.
            progress.finish()
            let line = "program-versioning: run \(runID.uuidString.lowercased()) wrote legacy back; \(refused)\n"
            FileHandle.standardError.write(Data(line.utf8))
            throw ExitCode(1)
        }
    }
    progress.finish()
    if run.json {
        try printJSON(BackfillSummaryOutput.json(summary))
    } else {
        print(BackfillSummaryOutput.text(summary), terminator: "")
    }
    if summary.status == .interrupted {
        let line = "program-versioning: run \(summary.runID.uuidString.lowercased()) INTERRUPTED after its last committed batch "
            + "(\(signals.stop.requested ?? "asked to stop")); run the same command again to resume\n"
        FileHandle.standardError.write(Data(line.utf8))
        throw ExitCode(2)
    }
}
