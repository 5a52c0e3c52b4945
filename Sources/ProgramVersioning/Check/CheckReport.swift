import Foundation

/// The kinds of difference the checker finds (DESIGN.md §5, plus version numbering).
public enum DifferenceKind: String, Sendable, CaseIterable, Comparable {
    /// A valid legacy program with no version while WRITES is on.
    case missingVersion = "MISSING_VERSION"
    /// The legacy JSON changed after its latest version was written.
    case staleVersion = "STALE_VERSION"
    /// The latest version claims to hold the legacy program but its rows say otherwise.
    case contentMismatch = "CONTENT_MISMATCH"
    /// A version (or version rows) whose program does not exist.
    case orphanVersion = "ORPHAN_VERSION"
    /// Legacy JSON that cannot be read or breaks an invariant.
    case invalidLegacy = "INVALID_LEGACY"
    /// A session's or set's link to version rows that points nowhere, or at another
    /// program, version, workout or exercise.
    case brokenSessionLink = "BROKEN_SESSION_LINK"
    /// Versions of a program not numbered 1, 2, 3 ... without gaps or repeats.
    case versionSequence = "VERSION_SEQUENCE"

    public static func < (lhs: DifferenceKind, rhs: DifferenceKind) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One difference: what, where, and both sides' values (as JSON text) where they exist.
public struct CheckDifference: Sendable, Hashable {
    public var programID: UUID?
    public var sessionID: UUID?
    public var kind: DifferenceKind
    /// The field, e.g. `workouts[w-upper-a].exercises[e-bench].reps`; nil for the whole program.
    public var path: String?
    public var legacy: String?
    public var versioned: String?

    public init(programID: UUID?, sessionID: UUID? = nil, kind: DifferenceKind, path: String?, legacy: String?, versioned: String?) {
        (self.programID, self.sessionID, self.kind, self.path, self.legacy, self.versioned) = (programID, sessionID, kind, path, legacy, versioned)
    }
}

/// What a check run found.
public struct CheckReport: Sendable {
    public var runID: UUID
    public var startedAt: Date
    public var finishedAt: Date
    /// The flags in force when the run started.
    public var writes: Bool
    public var reads: Bool
    public var readPercent: Int
    public var userID: UUID?
    public var programsChecked: Int
    public var sessionsChecked: Int
    /// Every difference found (also stored in `check_findings`); the first
    /// `CheckOptions.keepInMemory` are kept here, `differenceCount` counts them all.
    public var differences: [CheckDifference]
    public var differenceCount: Int
    public var countsByKind: [DifferenceKind: Int]

    public var isClean: Bool { differenceCount == 0 }
}

/// How a check runs.
public struct CheckOptions: Sendable {
    public var userID: UUID?
    /// Programs (and sessions) per page: one short read-only query each, never a long lock.
    public var pageSize: Int
    /// Differences kept in memory for the report (all are stored); memory stays flat.
    public var keepInMemory: Int

    public init(userID: UUID? = nil, pageSize: Int = 500, keepInMemory: Int = 10_000) {
        self.userID = userID
        self.pageSize = pageSize
        self.keepInMemory = keepInMemory
    }
}
