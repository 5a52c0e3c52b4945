/// What an edit changed, as the app can show and log it. Ids are the reconciled ones.
public struct ProgramChanges: Sendable, Hashable, CustomStringConvertible {
    /// The program name before and after, when it changed.
    public var programRenamed: Rename?
    /// Workout and exercise changes, workouts first, each in the edited program's order
    /// (removed items last).
    public var items: [ItemChange]
    /// Schedule entries (day, workout id) that are new, and those that are gone.
    public var scheduleAdded: [ScheduleEntry]
    public var scheduleRemoved: [ScheduleEntry]
    /// The program's own unknown keys changed.
    public var unknownKeysChanged: Bool

    public struct Rename: Sendable, Hashable {
        public var from: String
        public var to: String
    }

    public init(
        programRenamed: Rename? = nil, items: [ItemChange] = [], scheduleAdded: [ScheduleEntry] = [],
        scheduleRemoved: [ScheduleEntry] = [], unknownKeysChanged: Bool = false
    ) {
        self.programRenamed = programRenamed
        self.items = items
        self.scheduleAdded = scheduleAdded
        self.scheduleRemoved = scheduleRemoved
        self.unknownKeysChanged = unknownKeysChanged
    }

    /// Nothing changed at all.
    public var isEmpty: Bool {
        programRenamed == nil && items.isEmpty && scheduleAdded.isEmpty && scheduleRemoved.isEmpty && !unknownKeysChanged
    }

    /// The changes of one kind.
    public func items(_ kind: ItemChange.Kind) -> [ItemChange] { items.filter { $0.kinds.contains(kind) } }

    public var description: String {
        var lines: [String] = []
        if let rename = programRenamed { lines.append("program renamed \"\(rename.from)\" -> \"\(rename.to)\"") }
        lines += items.map(\.description)
        for entry in scheduleAdded { lines.append("schedule: \(entry.scheduleDescription) added") }
        for entry in scheduleRemoved { lines.append("schedule: \(entry.scheduleDescription) removed") }
        if unknownKeysChanged { lines.append("app fields of the program changed") }
        return lines.isEmpty ? "no changes" : lines.joined(separator: "\n")
    }
}

/// One workout or exercise that was added, removed, renamed, modified or moved (a matched
/// item can be several of the last three at once).
public struct ItemChange: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case added, removed, renamed, modified, moved
    }

    public enum Subject: Sendable, Hashable {
        case workout(id: String)
        case exercise(workoutID: String, exerciseID: String)
    }

    public var subject: Subject
    public var kinds: [Kind]
    /// The name now (for a removed item, its last name).
    public var name: String
    /// The name before, when renamed.
    public var previousName: String?
    /// Which fields changed, when modified (`sets`, `reps`, `restSeconds`, `weightKg`,
    /// `exercises`, `app fields`).
    public var modifiedFields: [String]

    public var description: String {
        let what: String
        switch subject {
        case .workout(let id): what = "workout \(id)"
        case .exercise(let workoutID, let exerciseID): what = "exercise \(exerciseID) of workout \(workoutID)"
        }
        var parts: [String] = []
        for kind in kinds {
            switch kind {
            case .renamed: parts.append("renamed \"\(previousName ?? "")\" -> \"\(name)\"")
            case .modified: parts.append("modified (\(modifiedFields.joined(separator: ", ")))")
            default: parts.append(kind.rawValue)
            }
        }
        return "\(what) \"\(name)\": \(parts.joined(separator: ", "))"
    }
}

extension ScheduleEntry {
    fileprivate var scheduleDescription: String {
        switch workout {
        case .id(let id): "day \(dayIndex) workout \(id)"
        case .index(let index): "day \(dayIndex) workout #\(index)"
        }
    }
}
