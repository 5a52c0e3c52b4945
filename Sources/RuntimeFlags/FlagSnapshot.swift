import Foundation

/// The rollout flags as one operation sees them: read once, used throughout, so an
/// operation never mixes two states (DESIGN.md §4).
public struct FlagSnapshot: Sendable, Hashable, CustomStringConvertible {
    /// `PROGRAM_VERSIONING_WRITES`: saves also write a new immutable version.
    public var writes: Bool
    /// `PROGRAM_VERSIONING_READS`: reads may come from the versioned tables.
    public var reads: Bool
    /// Share of users (0-100) whose reads come from versions while `reads` is on.
    public var readPercent: Int
    /// `PROGRAM_VERSIONING_LEGACY_READONLY` (phase 5): the versions are the source of truth,
    /// saves write only the next version, and the database refuses changes of the legacy
    /// JSON. The database's own flag decides what a save writes; this value picks the path
    /// to try first and sends every user's reads to versions.
    public var legacyReadOnly: Bool

    public init(writes: Bool, reads: Bool, readPercent: Int = 100, legacyReadOnly: Bool = false) {
        self.writes = writes
        self.reads = reads
        self.readPercent = min(max(readPercent, 0), 100)
        self.legacyReadOnly = legacyReadOnly
    }

    /// Both off: legacy only. What an instance that never loaded flags uses.
    public static let legacy = FlagSnapshot(writes: false, reads: false, readPercent: 0)

    /// Whether this user's reads come from the versioned tables. READS without WRITES is
    /// an invalid state (versions would go stale); it reads legacy, the safe side. In phase 5
    /// every user reads versions.
    public func readsVersions(for userID: UUID) -> Bool {
        writes && reads && (legacyReadOnly || RolloutBucket.of(userID) < readPercent)
    }

    /// The rollout phase these flags stand for (DESIGN.md §1): 1 legacy, 2 dual write (and
    /// backfill), 4 read switch, 5 legacy read-only. An invalid combination (READS without
    /// WRITES) is phase 1: that is how it reads.
    public var phase: Int {
        guard writes else { return 1 }
        guard reads else { return 2 }
        return legacyReadOnly ? 5 : 4
    }

    public var description: String {
        "PROGRAM_VERSIONING_WRITES=\(writes ? "on" : "off") PROGRAM_VERSIONING_READS=\(reads ? "on" : "off") (\(readPercent)%)"
            + " PROGRAM_VERSIONING_LEGACY_READONLY=\(legacyReadOnly ? "on" : "off")"
    }
}

/// Where the current flags come from. `current()` must not block: implementations keep the
/// last known snapshot in memory and refresh it elsewhere.
public protocol FlagSource: Sendable {
    func current() -> FlagSnapshot
}

/// Flags that never change: tests, tools, and apps that pin a phase.
public struct FixedFlagSource: FlagSource {
    public let snapshot: FlagSnapshot

    public init(_ snapshot: FlagSnapshot) {
        self.snapshot = snapshot
    }

    public func current() -> FlagSnapshot { snapshot }
}

/// A user's fixed place (0-99) in a percentage rollout: FNV-1a (64-bit) of the UUID's 16
/// bytes, modulo 100. Stable across processes and releases (unlike `Hasher`, which is
/// seeded per process), so raising the percentage only ever adds users.
public enum RolloutBucket {
    public static func of(_ userID: UUID) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        withUnsafeBytes(of: userID.uuid) { bytes in
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
        }
        return Int(hash % 100)
    }
}
