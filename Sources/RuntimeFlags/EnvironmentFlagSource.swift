import Foundation

/// Flags from environment variables of the same names, over a lower layer: each variable
/// that is set overrides that flag, the others come from `fallback`.
///
/// `PROGRAM_VERSIONING_WRITES`, `PROGRAM_VERSIONING_READS` and
/// `PROGRAM_VERSIONING_LEGACY_READONLY` take `on`/`off` (also
/// `true`/`false`, `1`/`0`); `PROGRAM_VERSIONING_READS_PERCENT` takes 0-100. Read once, at
/// start: a process's environment does not change.
public struct EnvironmentFlagSource: FlagSource {
    private let writes: Bool?
    private let reads: Bool?
    private let percent: Int?
    private let legacyReadOnly: Bool?
    private let fallback: any FlagSource

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, fallback: any FlagSource = FixedFlagSource(.legacy)) {
        func flag(_ name: String) -> Bool? {
            switch environment[name]?.lowercased() {
            case "on", "true", "1": true
            case "off", "false", "0": false
            default: nil
            }
        }
        writes = flag(FlagName.writes.rawValue)
        reads = flag(FlagName.reads.rawValue)
        legacyReadOnly = flag(FlagName.legacyReadOnly.rawValue)
        percent = environment["PROGRAM_VERSIONING_READS_PERCENT"].flatMap(Int.init).map { min(max($0, 0), 100) }
        self.fallback = fallback
    }

    public func current() -> FlagSnapshot {
        var snapshot = fallback.current()
        if let writes { snapshot.writes = writes }
        if let reads { snapshot.reads = reads }
        if let percent { snapshot.readPercent = percent }
        if let legacyReadOnly { snapshot.legacyReadOnly = legacyReadOnly }
        return snapshot
    }
}
