import ProgramVersioningOps
import RuntimeFlags

/// `flags set --dry-run` on a terminal: the flip, each rule with its outcome, the verdict.
struct FlagDryRunText {
    var dryRun: FlagDryRun

    init(_ dryRun: FlagDryRun) {
        self.dryRun = dryRun
    }

    /// What turning WRITES off implies, and the way back.
    static let writesOffWarning = """
        warning: with PROGRAM_VERSIONING_WRITES off, saves write only the legacy JSON: every program saved from now on \
        leaves its latest version stale (STALE_VERSION in check). To come back: flags set PROGRAM_VERSIONING_WRITES on, \
        then backfill programs (it writes the missing versions), then check, before READS goes on again.
        """

    var lines: [String] {
        let change = dryRun.change
        let old = dryRun.before.first { $0.name == change.name }
        var lines = ["dry run: \(change.name.rawValue) \(state(old)) -> \(requested(from: old)) (nothing is changed)"]
        for (rule, outcome) in dryRun.ruleOutcomes {
            switch outcome {
            case .passed: lines.append("  pass         \(rule.rawValue): \(rule.requirement)")
            case .broken(let refused): lines.append("  REFUSED      \(rule.rawValue): \(refused.message)")
            case .notReached: lines.append("  not reached  \(rule.rawValue): \(rule.requirement)")
            }
        }
        for gate in dryRun.evidence.gates where dryRun.change.name == gate.flag {
            let age = dryRun.evidence.lastTrustedCleanCheck.map { "the newest clean operator check finished \(ageText($0.age)) ago" }
                ?? "no clean operator check is recorded"
            lines.append("  evidence: \(age); this flag accepts \(ageText(change.maxCheckAge ?? gate.maxCheckAge))")
        }
        switch dryRun.verdict {
        case .success(let new):
            lines.append("verdict: allowed: \(change.name.rawValue) would be \(new.enabled ? "on" : "off")"
                + (change.name == .reads && new.enabled ? " at \(new.percent) %" : ""))
            if change.name == .writes, old?.enabled == true, !change.enabled { lines.append(Self.writesOffWarning) }
        case .failure(let refused):
            lines.append("verdict: refused (\(refused.rule.rawValue)); \(refused.hint)")
        }
        return lines
    }

    private func state(_ flag: FlagState?) -> String {
        guard let flag else { return "?" }
        return flag.enabled ? (flag.name == .reads ? "on (\(flag.percent) %)" : "on") : "off"
    }

    private func requested(from old: FlagState?) -> String {
        let change = dryRun.change
        guard change.enabled else { return "off" }
        guard change.name == .reads else { return "on" }
        let percent = change.percent ?? (old?.enabled == true ? old!.percent : 100)
        return "on (\(percent) %)"
    }
}
