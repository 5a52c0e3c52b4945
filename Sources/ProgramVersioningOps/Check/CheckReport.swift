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
    /// A version the legacy JSON does not hold (saved in phase 5) while
    /// PROGRAM_VERSIONING_LEGACY_READONLY is off: legacy readers miss an edit. (While the
    /// flag is on this is expected, and only counted: `CheckReport.legacyBehind`.)
    case legacyBehind = "LEGACY_BEHIND"

    public static func < (lhs: DifferenceKind, rhs: DifferenceKind) -> Bool { lhs.rawValue < rhs.rawValue }

    /// How bad it is, most severe first (0): what an app reading versions would get wrong
    /// comes before what a backfill fixes, and legacy's own mess last.
    public var severity: Int {
        switch self {
        case .contentMismatch: 0
        case .brokenSessionLink: 1
        case .orphanVersion: 2
        case .versionSequence: 3
        case .legacyBehind: 4
        case .staleVersion: 5
        case .missingVersion: 6
        case .invalidLegacy: 7
        }
    }

    /// What the two values of a finding of this kind are, as a report labels them.
    public var sideLabels: (legacy: String, versioned: String) {
        switch self {
        case .contentMismatch, .staleVersion: ("legacy", "version")
        case .invalidLegacy: ("problem", "version")
        case .brokenSessionLink: ("problem", "link")
        case .missingVersion, .orphanVersion, .versionSequence, .legacyBehind: ("legacy", "versions")
        }
    }
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
    /// Set when the ignore file declares this difference known and accepted.
    public var ignoredBecause: String?

    public init(programID: UUID?, sessionID: UUID? = nil, kind: DifferenceKind, path: String?, legacy: String?, versioned: String?) {
        (self.programID, self.sessionID, self.kind, self.path, self.legacy, self.versioned) = (programID, sessionID, kind, path, legacy, versioned)
    }

    /// What identifies the same difference from one run to the next.
    public var key: String {
        "\(programID?.uuidString.lowercased() ?? "-") \(kind.rawValue) \(path ?? "-")"
    }
}

/// How this run compares with the previous finished run of the same scope.
public struct CheckComparison: Sendable {
    public var previousRunID: UUID
    public var previousFinishedAt: Date
    /// Differences (by program, kind and path, ignored ones included) this run found and the previous did not.
    public var new: [String]
    /// Differences the previous run found and this one did not.
    public var fixed: [String]
}

/// One earlier run, for the trend.
public struct CheckTrendPoint: Sendable {
    public var runID: UUID
    public var finishedAt: Date
    /// Differences not ignored.
    public var differenceCount: Int
    /// Differences the ignore file of that run accepted (kept apart: a run with the file and
    /// one without find the same data).
    public var ignoredCount: Int = 0
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
    public var legacyReadOnly: Bool = false
    /// Programs whose latest version the legacy JSON does not hold yet, counted while
    /// PROGRAM_VERSIONING_LEGACY_READONLY is on (expected in phase 5, not a difference;
    /// `backfill legacy` clears them before a rollback).
    public var legacyBehind = 0
    /// The legacy JSON was retired (`legacy retire`): programs were checked on the versions'
    /// side only.
    public var legacyRetired = false
    public var userID: UUID?
    public var programsChecked: Int
    public var sessionsChecked: Int
    /// The differences found, ignored ones included (marked); the first
    /// `CheckOptions.keepInMemory` are kept here and stored with the run.
    public var differences: [CheckDifference]
    /// Differences not ignored: what makes a run unclean.
    public var differenceCount: Int
    public var countsByKind: [DifferenceKind: Int]
    /// Differences the ignore file accepted.
    public var ignoredCount: Int
    /// Against the previous finished run of the same scope, if any.
    public var comparison: CheckComparison?
    /// The latest finished runs of the same scope, oldest first, this one last.
    public var trend: [CheckTrendPoint]

    /// "primary", or "standby HOST:PORT" when the check read a hot standby.
    public var readFrom = "primary"
    /// Reading a standby: the time of the last transaction it had replayed when the run started.
    public var dataAsOf: Date?
    /// The run went on from where an earlier, unfinished one stopped.
    public var resumed = false
    /// The run is recorded in `check_runs` (false: the database was read-only and no
    /// `recordPool` was given; `notStoredBecause` says so).
    public var stored = true
    public var notStoredBecause: String?

    /// What the app instances' shadow reads saw in the hour before the run ended (nil when
    /// none are recorded): the other view of the same consistency, from live traffic.
    public var shadowReads: ShadowReadSummary?

    public var isClean: Bool { differenceCount == 0 }

    /// The keys of the differences new since the previous run of this scope (empty for a first run).
    public var newKeys: Set<String> { Set(comparison?.new ?? []) }

    /// The order of every report format: what needs a look first. Not ignored before
    /// ignored, new before known, then by severity, program and path.
    mutating func sortFindings() {
        let new = Set(comparison?.new ?? [])
        differences.sort { a, b in
            func rank(_ d: CheckDifference) -> (Int, Int, Int, String, String) {
                (d.ignoredBecause == nil ? 0 : 1, new.contains(d.key) ? 0 : 1, d.kind.severity,
                 d.programID?.uuidString.lowercased() ?? "", d.path ?? "")
            }
            return rank(a) < rank(b)
        }
    }
}

/// Where a check is, after each page and while it waits.
public struct CheckRunProgress: Sendable {
    public var programsChecked: Int
    public var sessionsChecked: Int
    public var programsTotal: Int
    public var sessionsTotal: Int
    /// Records this process had checked when it started (a resumed run's earlier part), so
    /// rates count only what it checked itself.
    public var programsAtStart: Int
    public var sessionsAtStart: Int
    public var elapsed: Duration
    /// Why the check waits now, nil while it works.
    public var throttled: String?

    public init(
        programsChecked: Int, sessionsChecked: Int, programsTotal: Int, sessionsTotal: Int, programsAtStart: Int, sessionsAtStart: Int,
        elapsed: Duration, throttled: String? = nil
    ) {
        (self.programsChecked, self.sessionsChecked, self.programsTotal, self.sessionsTotal) = (programsChecked, sessionsChecked, programsTotal, sessionsTotal)
        (self.programsAtStart, self.sessionsAtStart, self.elapsed, self.throttled) = (programsAtStart, sessionsAtStart, elapsed, throttled)
    }

    /// How far the run is, 0...1. Programs and sessions are walked at the same time and a
    /// program costs several times a session, so a count of records overstates it (at 90 %
    /// of the records, 81 % of the programs were done): the run is as far as its slower part.
    public var fractionDone: Double {
        min(Self.fraction(programsChecked, of: programsTotal), Self.fraction(sessionsChecked, of: sessionsTotal))
    }

    /// Time left at this process's pace: the part that needs longest decides it (the parts
    /// run side by side). Nil until there is a pace to go by.
    public var estimatedRemaining: Duration? {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard seconds > 0 else { return nil }
        var longest = 0.0
        for (checked, atStart, total) in [(programsChecked, programsAtStart, programsTotal), (sessionsChecked, sessionsAtStart, sessionsTotal)]
        where total > checked {
            guard checked > atStart else { return nil }
            longest = max(longest, Double(total - checked) * seconds / Double(checked - atStart))
        }
        return .milliseconds(Int64((longest * 1000).rounded(.up)))
    }

    private static func fraction(_ checked: Int, of total: Int) -> Double {
        total > 0 ? min(1, Double(checked) / Double(total)) : 1
    }
}

/// How a check runs.
public struct CheckOptions: Sendable {
    public var userID: UUID?
    /// Programs per page: one short read-only query each, never a long lock. Nil: each
    /// page sized to take about `throttle.targetBatchDuration`.
    public var pageSize: Int?
    /// Differences kept in memory for the report (all are counted); memory stays flat.
    public var keepInMemory: Int
    public var ignoreList: CheckIgnoreList
    /// What holds the check between pages (an operator's pause, a throttle query, replica
    /// lag) and how long a page should take. The check writes no table of the app, so
    /// autovacuum does not hold it.
    public var throttle: ThrottleOptions

    public init(
        userID: UUID? = nil, pageSize: Int? = 500, keepInMemory: Int = 100_000, ignoreList: CheckIgnoreList = CheckIgnoreList(),
        throttle: ThrottleOptions = ThrottleOptions(pauseDuringAutovacuum: false)
    ) {
        self.userID = userID
        self.pageSize = pageSize
        self.keepInMemory = keepInMemory
        self.ignoreList = ignoreList
        self.throttle = throttle
    }
}
