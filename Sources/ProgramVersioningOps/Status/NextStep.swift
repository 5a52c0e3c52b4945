import Foundation
import RuntimeFlags

/// The rollout's next step (DESIGN.md §1): the flip that comes next and whether the flag
/// store's gate would let it through now; when not, why, and what to run first.
public struct NextStep: Sendable {
    /// The next flip is allowed now.
    public var allowed: Bool
    /// The command for the next flip, when it is allowed.
    public var command: String?
    /// Why the next flip is not allowed (or why there is none).
    public var reason: String?
    /// What to run first, when the flip is not allowed.
    public var then: String?

    /// The READS percentages a ramp goes through, as the runbook advises.
    public static let readSteps = [5, 25, 50, 100]

    static func after(_ status: RolloutStatus) -> NextStep {
        let tool = "program-versioning"
        let readsPercent = status.flag(.reads)?.percent ?? 0
        switch status.phase {
        case 1:
            return NextStep(
                allowed: true, command: "\(tool) flags set PROGRAM_VERSIONING_WRITES on --reason 'start dual writes'",
                reason: status.followers.count == 0 ? "no app instance follows the flag store yet: the flip reaches none until one does" : nil,
                then: nil)
        case 2, 3:
            if let pending = pendingBackfill(status) {
                return NextStep(allowed: false, command: nil, reason: pending.reason, then: "\(tool) \(pending.command)")
            }
            return gated(
                status, .reads, command: "\(tool) flags set PROGRAM_VERSIONING_READS on --percent \(readSteps[0])")
        case 4 where readsPercent < 100:
            let next = readSteps.first { $0 > readsPercent } ?? 100
            return gated(status, .reads, command: "\(tool) flags set PROGRAM_VERSIONING_READS on --percent \(next)")
        case 4:
            return gated(
                status, .legacyReadOnly,
                command: "\(tool) flags set PROGRAM_VERSIONING_LEGACY_READONLY on --reason 'versions become the source of truth'")
        default:
            if status.legacyRetired {
                return NextStep(
                    allowed: false, command: nil,
                    reason: "the rollout is complete and the legacy JSON is retired; nothing is left to do", then: nil)
            }
            return NextStep(
                allowed: false, command: nil,
                reason: "the rollout is complete: the versions are the source of truth and the legacy JSON is read-only; "
                    + "after the rollback window, retire it",
                then: "\(tool) legacy retire --window DAYS")
        }
    }

    /// A flip through a gate: allowed when the gate's evidence holds.
    private static func gated(_ status: RolloutStatus, _ flag: FlagName, command: String) -> NextStep {
        guard let missing = status.evidence.gate(flag)?.missing else {
            return NextStep(allowed: true, command: command, reason: nil, then: nil)
        }
        return NextStep(allowed: false, command: nil, reason: missing, then: "program-versioning check, then: \(command)")
    }

    /// Phases 2-3: a backfill that has not finished since WRITES went on comes first.
    private static func pendingBackfill(_ status: RolloutStatus) -> (reason: String, command: String)? {
        let writesOn = status.writesTurnedOnAt ?? .distantPast
        for kind in [BackfillKind.programs, .sessions] {
            if let running = status.backfill.runs.first(where: { $0.kind == kind && $0.state == .running }) {
                return ("backfill \(kind.rawValue) is running (run \(running.id)); wait for it to finish", "backfill status")
            }
            if (status.lastSucceededBackfill[kind] ?? .distantPast) <= writesOn {
                return ("no backfill \(kind.rawValue) has finished since PROGRAM_VERSIONING_WRITES went on", "backfill \(kind.rawValue)")
            }
        }
        return nil
    }
}
