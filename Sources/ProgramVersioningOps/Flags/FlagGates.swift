import Foundation
import PostgresDriver
import RuntimeFlags

/// One flip as asked for.
public struct FlagChange: Sendable {
    public var name: FlagName
    public var enabled: Bool
    public var percent: Int?
    public var maxCheckAge: Duration?
    public var actor: String
    public var reason: String?
    public var force: Bool

    /// The rules the flag store's trigger checks for this flip from `before`, in the order it
    /// checks them (migrations 17, 18 and 22): the first one broken refuses the flip.
    public func rules(from before: [FlagState]) -> [FlagChangeRefused.Rule] {
        guard let old = before.first(where: { $0.name == name }) else { return [] }
        var rules: [FlagChangeRefused.Rule] = [.forceNeedsReason]
        switch name {
        case .reads:
            let newPercent = percent ?? (enabled && !old.enabled ? 100 : old.percent)
            rules += [.readsLockedByLegacyReadOnly]
            if enabled { rules += [.readsNeedsWrites] }
            if enabled && (!old.enabled || newPercent > old.percent) { rules += [.readsNeedsCleanCheck] }
        case .writes:
            if !enabled { rules += [.writesOffNeedsLegacyReadOnlyOff, .writesOffNeedsReadsOff] }
        case .legacyReadOnly:
            if enabled != old.enabled { rules += [.savesInFlight] }
            if enabled && !old.enabled { rules += [.legacyReadOnlyNeedsFullReads, .legacyReadOnlyNeedsCleanCheck] }
            if !enabled && old.enabled { rules += [.legacyRetired, .legacyBehind] }
        }
        if let maxCheckAge, maxCheckAge > old.maxCheckAge { rules += [.maxCheckAgeNeedsReason] }
        return rules
    }
}

/// What `flags set --dry-run` found: the verdict of the database's own rules on the flip,
/// which was then rolled back.
public struct FlagDryRun: Sendable {
    public var change: FlagChange
    public var before: [FlagState]
    /// The flag as the flip would leave it, or the rule that refused it.
    public var verdict: Result<FlagState, FlagChangeRefused>
    /// The gates' evidence as the flip saw it.
    public var evidence: FlagGateEvidence

    /// Each rule with its outcome: passed, broken (the refusal), or not reached (the trigger
    /// stops at the first broken rule).
    public var ruleOutcomes: [(rule: FlagChangeRefused.Rule, outcome: Outcome)] {
        var broken = false
        return change.rules(from: before).map { rule in
            if broken { return (rule, .notReached) }
            if case .failure(let refused) = verdict, refused.rule == rule {
                broken = true
                return (rule, .broken(refused))
            }
            return (rule, .passed)
        }
    }

    public enum Outcome: Sendable {
        case passed
        case broken(FlagChangeRefused)
        case notReached
    }
}

/// The evidence the flag store's gates judge (migration 22), read without flipping anything:
/// what `status` shows and a dry run reports.
public struct FlagGateEvidence: Sendable {
    public struct Gate: Sendable {
        public var flag: FlagName
        public var maxCheckAge: Duration
        /// Why a flip through this gate would be refused now; nil when the evidence holds.
        public var missing: String?
    }

    /// The newest finished clean check of every program recorded by a role that may flip
    /// flags: the run a gate can rely on.
    public struct CleanCheck: Sendable {
        public var runID: UUID
        public var finishedAt: Date
        public var age: Duration
    }

    public var gates: [Gate]
    public var lastTrustedCleanCheck: CleanCheck?

    public func gate(_ flag: FlagName) -> Gate? { gates.first { $0.flag == flag } }

    /// Reads the evidence of the gates of `flags` (each costs a pass over the programs: the
    /// store checks versions against legacy itself).
    public static func load(gates flags: [FlagName] = [.reads, .legacyReadOnly], on connection: PGConnection) async throws -> FlagGateEvidence {
        let names = flags.map(\.rawValue)
        let gates = try await connection.query("""
            SELECT name, extract(epoch FROM max_check_age)::float8, runtime_flags_gate_missing(name, max_check_age)
              FROM runtime_flags WHERE name = ANY(\(names)) ORDER BY name DESC
            """).map { row in
            let (name, maxAge, missing) = try row.decode((String, Double, String?).self)
            return Gate(flag: FlagName(rawValue: name) ?? .reads, maxCheckAge: .seconds(maxAge), missing: missing)
        }
        let clean = try await connection.query("""
            SELECT r.id, r.finished_at, extract(epoch FROM now() - r.finished_at)::float8 FROM check_runs r
             WHERE r.status = 'CLEAN' AND r.user_filter IS NULL AND r.finished_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.recorded_by)
               AND has_table_privilege(r.recorded_by, 'runtime_flags', 'UPDATE')
             ORDER BY r.finished_at DESC LIMIT 1
            """).first.map { row in
            let (id, finishedAt, age) = try row.decode((UUID, Date, Double).self)
            return CleanCheck(runID: id, finishedAt: finishedAt, age: .seconds(max(0, age)))
        }
        return FlagGateEvidence(gates: gates, lastTrustedCleanCheck: clean)
    }
}
