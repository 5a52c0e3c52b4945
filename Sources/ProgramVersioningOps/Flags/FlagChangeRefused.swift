import PostgresDriver
import RuntimeFlags

/// The flag's row is not in `runtime_flags`: the database was not migrated (or not fully).
public struct FlagMissing: Error, Sendable, CustomStringConvertible {
    public var flag: FlagName
    public var description: String {
        "the flag \(flag.rawValue) is not in runtime_flags: the database is not migrated; run program-versioning migrate up first"
    }
}

/// A flip the store refused, with the rule and what to do first.
public struct FlagChangeRefused: Error, Sendable, CustomStringConvertible {
    public enum Rule: String, Sendable {
        case readsNeedsWrites = "READS_NEEDS_WRITES"
        case writesOffNeedsReadsOff = "WRITES_OFF_NEEDS_READS_OFF"
        case readsNeedsCleanCheck = "READS_NEEDS_CLEAN_CHECK"
        case forceNeedsReason = "FORCE_NEEDS_REASON"
        case invalidPercent = "INVALID_PERCENT"
        case legacyReadOnlyNeedsFullReads = "LEGACY_READONLY_NEEDS_FULL_READS"
        case legacyReadOnlyNeedsCleanCheck = "LEGACY_READONLY_NEEDS_CLEAN_CHECK"
        case readsLockedByLegacyReadOnly = "READS_LOCKED_BY_LEGACY_READONLY"
        case writesOffNeedsLegacyReadOnlyOff = "WRITES_OFF_NEEDS_LEGACY_READONLY_OFF"
        case legacyBehind = "LEGACY_BEHIND"
        case legacyRetired = "LEGACY_RETIRED"
        /// In-flight saves held the phase lock longer than the flip may wait.
        case savesInFlight = "SAVES_IN_FLIGHT"
        case maxCheckAgeNeedsReason = "MAX_CHECK_AGE_NEEDS_REASON"
        case invalidMaxCheckAge = "INVALID_MAX_CHECK_AGE"

        /// What the rule asks for, as a dry run lists it.
        public var requirement: String {
            switch self {
            case .readsNeedsWrites: "READS on needs WRITES on"
            case .writesOffNeedsReadsOff: "WRITES off needs READS off"
            case .readsNeedsCleanCheck:
                "READS on, or a higher percent, needs a clean check by an operator since WRITES went on, within the max check age, "
                    + "no newer STALE/MISSING findings, and no legacy change the store can see after a program's latest version"
            case .forceNeedsReason: "a forced flip needs --reason"
            case .invalidPercent: "percent is 0-100"
            case .legacyReadOnlyNeedsFullReads: "LEGACY_READONLY on needs WRITES on and READS on at 100 %"
            case .legacyReadOnlyNeedsCleanCheck:
                "LEGACY_READONLY on needs a clean check by an operator since READS reached 100 %, within the max check age, "
                    + "and no newer STALE/MISSING findings"
            case .readsLockedByLegacyReadOnly: "READS stays on at 100 % while LEGACY_READONLY is on"
            case .writesOffNeedsLegacyReadOnlyOff: "WRITES off needs LEGACY_READONLY off"
            case .legacyBehind: "LEGACY_READONLY off needs every program's legacy JSON at its latest version (backfill legacy)"
            case .legacyRetired: "LEGACY_READONLY off needs the legacy JSON restored (legacy restore)"
            case .savesInFlight: "the saves in flight finish within \(FlagStore.lockTimeout)"
            case .maxCheckAgeNeedsReason: "a longer max check age needs --reason"
            case .invalidMaxCheckAge: "the max check age is longer than zero"
            }
        }
    }

    public var rule: Rule
    /// What the rule says.
    public var message: String
    /// What to do first.
    public var hint: String

    public var description: String { "refused: \(message) (\(rule.rawValue)); \(hint)" }

    /// The refusal a flag-store error stands for (a rule's SQLSTATE, or a lock wait that
    /// timed out), nil for any other error.
    public static func from(_ error: PGError) -> FlagChangeRefused? {
        let rule: Rule
        switch error.sqlState {
        case "PVF01": rule = .readsNeedsWrites
        case "PVF02": rule = .writesOffNeedsReadsOff
        case "PVF03": rule = .readsNeedsCleanCheck
        case "PVF04": rule = .forceNeedsReason
        case "PVF05": rule = .legacyReadOnlyNeedsFullReads
        case "PVF06": rule = .legacyReadOnlyNeedsCleanCheck
        case "PVF07": rule = .readsLockedByLegacyReadOnly
        case "PVF08": rule = .writesOffNeedsLegacyReadOnlyOff
        case "PVF09": rule = .legacyBehind
        case "PVF10": rule = .legacyRetired
        case "PVF11": rule = .maxCheckAgeNeedsReason
        case "55P03":
            return FlagChangeRefused(
                rule: .savesInFlight, message: "saves in flight held the phase lock for over \(FlagStore.lockTimeout)",
                hint: "a long transaction of the app holds it (see pg_stat_activity); try again")
        default: return nil
        }
        let message = (error.serverMessage ?? error.message).split(separator: ":", maxSplits: 1).last
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? error.message
        return FlagChangeRefused(rule: rule, message: message, hint: error.hint ?? "")
    }
}
