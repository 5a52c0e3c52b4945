import Foundation

/// The flags' names, in rollout order.
public enum FlagName: String, Sendable, CaseIterable {
    case writes = "PROGRAM_VERSIONING_WRITES"
    case reads = "PROGRAM_VERSIONING_READS"
    case legacyReadOnly = "PROGRAM_VERSIONING_LEGACY_READONLY"

    /// Accepts the full name or `writes` / `reads` / `legacy-readonly`, any case, `-` or `_`.
    public init?(argument: String) {
        switch argument.uppercased().replacingOccurrences(of: "-", with: "_") {
        case "PROGRAM_VERSIONING_WRITES", "WRITES": self = .writes
        case "PROGRAM_VERSIONING_READS", "READS": self = .reads
        case "PROGRAM_VERSIONING_LEGACY_READONLY", "LEGACY_READONLY": self = .legacyReadOnly
        default: return nil
        }
    }
}
