import ArgumentParser
import Foundation
import ProgramVersioningOps
import RuntimeFlags

/// `flags ramp reads`: a guarded, automatic ramp of PROGRAM_VERSIONING_READS.
struct RampCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ramp",
        abstract: "Advance PROGRAM_VERSIONING_READS step by step while the app's shadow reads stay consistent; turn it off on a breach.",
        discussion: """
            Each step is a flip the flag store's gates judge (a fresh clean check is needed). Between steps the command \
            reads the per-minute shadow-read counts the app instances record (ShadowReads with a recording) and turns \
            READS off, audited with the reason, as soon as the consistency, fallback or error rate breaches. Exit 0 when \
            the last step is reached, 1 otherwise (rolled back, refused, too little traffic, stopped).
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "reads (the only flag a ramp moves).") var flag: String
    @Option(help: "READS percentages, ascending (e.g. 5,25,50,100).") var steps: String = "5,25,50,100"
    @Option(help: "How long each step holds (e.g. 30m).") var every: DurationArgument
    @Option(help: "Lowest shadow-read consistency, in percent.") var minConsistency: Double = 99.9
    @Option(help: "Highest share of reads for versions served legacy, in percent.") var maxFallback: Double = 1
    @Option(help: "Highest read error rate from the versions, and save error rate, in percent.") var maxErrors: Double = 1
    @Option(help: "Comparisons a step needs before the next.") var minComparisons: Int = 100
    @Option(help: "How often the rates are read (default: a tenth of --every, 1s-30s).") var poll: DurationArgument?
    @Option(help: "Who, for the audit trail (default: the OS user).") var actor: String?

    var parsedSteps: [Int] { steps.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard FlagName(argument: flag) == .reads else { throw ValidationError("only reads can be ramped, not '\(flag)'") }
        let values = parsedSteps
        guard !values.isEmpty, values.count == steps.split(separator: ",").count, values.allSatisfy({ (1...100).contains($0) }),
              zip(values, values.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw ValidationError("--steps must be ascending percentages 1-100 separated by commas, e.g. 5,25,50,100")
        }
        guard !every.off, every.duration >= .seconds(1) else { throw ValidationError("--every must be a second or more (e.g. 30m)") }
        guard (0...100).contains(minConsistency), (0...100).contains(maxFallback), (0...100).contains(maxErrors) else {
            throw ValidationError("--min-consistency, --max-fallback and --max-errors are percentages, 0-100")
        }
    }

    func run() async throws {
        let who = actor ?? ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        let options = ReadsRamp.Options(
            steps: parsedSteps, every: every.duration, minConsistencyPercent: minConsistency, maxFallbackPercent: maxFallback,
            maxErrorPercent: maxErrors, minComparisons: minComparisons, pollInterval: poll?.duration, actor: who)
        let signals = StopOnSignals("the ramp (READS stays where it is)")
        defer { signals.uninstall() }
        let outcome = try await reportingErrors(connection: connection) {
            try await withPool(connection) { pool in
                try await ReadsRamp(pool: pool).run(options, stop: signals.stop) { event in
                    switch event {
                    case .stepStarted(let percent):
                        print("\(iso8601(Date())) READS on at \(percent) %")
                    case .holding(let percent, let summary, let remaining):
                        let rate = summary.consistencyPercent.map { String(format: "%.2f %%", $0) } ?? "-"
                        print("\(iso8601(Date())) holding \(percent) %: \(summary.compared) comparisons, \(rate) consistent, \(ageText(remaining)) to go")
                    case .waitingForComparisons(let percent, let have, let need):
                        print("\(iso8601(Date())) holding \(percent) % for more traffic: \(have) of \(need) comparisons")
                    }
                }
            }
        }
        switch outcome {
        case .completed(let percent):
            print("ramp complete: READS on at \(percent) %")
        case .rolledBack(_, let reason):
            FileHandle.standardError.write(Data("program-versioning: \(reason); READS is off (audited)\n".utf8))
            throw ExitCode(1)
        case .refused(let percent, let refused):
            FileHandle.standardError.write(Data("program-versioning: the ramp stopped at \(percent) %: \(refused)\n".utf8))
            throw ExitCode(1)
        case .notEnoughTraffic(let percent, let comparisons):
            FileHandle.standardError.write(Data("""
                program-versioning: the ramp stopped at \(percent) %: only \(comparisons) shadow comparisons in twice --every; \
                is ShadowReads recording on in the app? READS stays at \(percent) %\n
                """.utf8))
            throw ExitCode(1)
        case .stopped(let percent, let why):
            FileHandle.standardError.write(Data("program-versioning: the ramp stopped (\(why)); READS stays at \(percent) %\n".utf8))
            throw ExitCode(1)
        }
    }
}
