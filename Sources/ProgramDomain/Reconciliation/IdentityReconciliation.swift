/// An edited program with its ids reconciled against the previous version, and what changed.
public struct Reconciliation: Sendable, Hashable {
    /// The edited program: workouts and exercises that continue a previous one carry its
    /// id, new ones carry a fresh id, and the schedule names workouts by these ids.
    public var program: Program
    public var changes: ProgramChanges
}

extension Program {
    /// Gives the ids of `previous` to the workouts and exercises of this (edited) program
    /// that continue them, so workout history stays attached across edits, above all AI
    /// edits that return a whole program with ids missing, regenerated or shuffled.
    ///
    /// Matching (see `ItemMatcher`) goes by id when the id is known, else by normalized
    /// name, else by content similarity; workouts first, then the exercises of each matched
    /// pair. Items with no match are new: they keep the id they came with when no previous
    /// item had it, else get one by the rule in `GeneratedIDs`. No id of `previous` (nor of
    /// `retiredIDs`, ids of older versions the caller wants kept out) is ever given to a
    /// different item, and no two items get the same id.
    public func reconciled(with previous: Program, retiredWorkoutIDs: Set<String> = []) -> Reconciliation {
        let matcher = ItemMatcher()
        let workoutMatches: [Int?]
        // Every workout where it was, with its id and name: each keeps its id, none moved.
        let inPlace = ItemMatcher.keepsEveryItemInPlace(previous: previous.workouts, edited: workouts, id: { $0.id }, name: { $0.name })
        if inPlace {
            workoutMatches = Array(workouts.indices)
        } else {
            let previousItems = previous.workouts.enumerated().map { MatchItem(id: $1.id, name: $1.name, position: $0) }
            let editedItems = workouts.enumerated().map { MatchItem(id: $1.id, name: $1.name, position: $0) }
            // Built only when matching needs content (most workouts match by id or name first).
            let previousContents = LazyContents(previous.workouts), editedContents = LazyContents(workouts)
            workoutMatches = matcher.match(
                previous: previousItems, edited: editedItems,
                sameContent: { previousContents[$0] == editedContents[$1] },
                similarity: { p, e in
                    0.4 * ItemMatcher.jaccard(previousItems[p].nameTokens, editedItems[e].nameTokens)
                        + 0.6 * ItemMatcher.jaccard(previousContents[p].exerciseNames, editedContents[e].exerciseNames)
                })
        }

        let finalIDs = inPlace
            ? workouts.map(\.id)
            : Self.finalWorkoutIDs(workouts, matches: workoutMatches, previous: previous, retired: retiredWorkoutIDs)

        var result = self
        var workoutChanges: [ItemChange] = []
        var exerciseChanges: [ItemChange] = []
        let movedWorkouts = inPlace ? [] : ItemMatcher.movedPairs(workoutMatches.enumerated().compactMap { e, p in p.map { ($0, e) } })
        var matchedIndex = 0
        for (e, match) in workoutMatches.enumerated() {
            result.workouts[e].id = finalIDs[e]
            guard let p = match else {
                result.workouts[e].exercises = Self.freshExerciseIDs(workouts[e].exercises, workoutID: finalIDs[e])
                workoutChanges.append(ItemChange(subject: .workout(id: finalIDs[e]), kinds: [.added], name: workouts[e].name, modifiedFields: []))
                continue
            }
            let (exercises, changes) = Self.reconcileExercises(
                previous: previous.workouts[p].exercises, edited: workouts[e].exercises, workoutID: finalIDs[e], matcher: matcher)
            result.workouts[e].exercises = exercises
            exerciseChanges += changes

            var kinds: [ItemChange.Kind] = []
            var fields: [String] = []
            if workouts[e].name != previous.workouts[p].name { kinds.append(.renamed) }
            if !changes.isEmpty { fields.append("exercises") }
            if workouts[e].unknownKeys != previous.workouts[p].unknownKeys { fields.append("app fields") }
            if !fields.isEmpty { kinds.append(.modified) }
            if movedWorkouts.contains(matchedIndex) { kinds.append(.moved) }
            matchedIndex += 1
            if !kinds.isEmpty {
                workoutChanges.append(ItemChange(
                    subject: .workout(id: finalIDs[e]), kinds: kinds, name: workouts[e].name,
                    previousName: kinds.contains(.renamed) ? previous.workouts[p].name : nil, modifiedFields: fields))
            }
        }
        if !inPlace {
            let matchedPrevious = Set(workoutMatches.compactMap { $0 })
            for (p, workout) in previous.workouts.enumerated() where !matchedPrevious.contains(p) {
                workoutChanges.append(ItemChange(subject: .workout(id: workout.id), kinds: [.removed], name: workout.name, modifiedFields: []))
            }
        }

        // The schedule follows the edited program's own references, now by final id.
        result.schedule = schedule.map { entry in
            var repaired = entry
            if let position = self.position(of: entry.workout) { repaired.workout = .id(finalIDs[position]) }
            return repaired
        }
        let (added, removed) = Self.scheduleDifference(previous: previous.schedule, current: result.schedule)
        let changes = ProgramChanges(
            programRenamed: name == previous.name ? nil : .init(from: previous.name, to: name),
            items: workoutChanges + exerciseChanges, scheduleAdded: added, scheduleRemoved: removed,
            unknownKeysChanged: unknownKeys != previous.unknownKeys)
        return Reconciliation(program: result, changes: changes)
    }

    /// Final workout ids: matched ones first, then new ones in order. A messy previous
    /// program may repeat an id: only its first holder passes it on, so an edit that gives
    /// the others ids of their own (the way to repair it) keeps them.
    private static func finalWorkoutIDs(_ workouts: [Workout], matches: [Int?], previous: Program, retired: Set<String>) -> [String] {
        var taken = Set(previous.workouts.map(\.id)).union(retired)
        var finalIDs = [String](repeating: "", count: workouts.count)
        let inherits = passesItsID(previous.workouts.map(\.id))
        for (e, match) in matches.enumerated() {
            if let p = match, inherits[p] { finalIDs[e] = previous.workouts[p].id }
        }
        for (e, workout) in workouts.enumerated() where finalIDs[e].isEmpty {
            if !workout.id.isEmpty, !taken.contains(workout.id) {
                taken.insert(workout.id)
                finalIDs[e] = workout.id
            } else {
                finalIDs[e] = GeneratedIDs.firstFree(GeneratedIDs.workoutID(position: e, name: workout.name), taken: &taken)
            }
        }
        return finalIDs
    }

    /// For each id in order: whether it is the first holder of that id (later holders of a
    /// repeated id do not pass it on).
    private static func passesItsID(_ ids: [String]) -> [Bool] {
        var seen = Set<String>()
        return ids.map { seen.insert($0).inserted }
    }

    private static func reconcileExercises(
        previous: [Exercise], edited: [Exercise], workoutID: String, matcher: ItemMatcher
    ) -> ([Exercise], [ItemChange]) {
        if ItemMatcher.keepsEveryItemInPlace(previous: previous, edited: edited, id: { $0.id }, name: { $0.name }) {
            // Each exercise continues the one at its position under its own id and name: only
            // its values can have changed.
            let changes = edited.indices.compactMap { e -> ItemChange? in
                let fields = previous[e].changedFields(comparedTo: edited[e])
                guard !fields.isEmpty else { return nil }
                return ItemChange(
                    subject: .exercise(workoutID: workoutID, exerciseID: edited[e].id), kinds: [.modified], name: edited[e].name,
                    previousName: nil, modifiedFields: fields)
            }
            return (edited, changes)
        }
        let matches: [Int?]
        do {
            let previousItems = previous.enumerated().map { MatchItem(id: $1.id, name: $1.name, position: $0) }
            let editedItems = edited.enumerated().map { MatchItem(id: $1.id, name: $1.name, position: $0) }
            matches = matcher.match(
                previous: previousItems, edited: editedItems,
                sameContent: { previous[$0].changedFields(comparedTo: edited[$1]).isEmpty },
                similarity: { p, e in
                    let sameFields = 4 - previous[p].changedFields(comparedTo: edited[e]).filter { $0 != "app fields" }.count
                    return 0.5 * ItemMatcher.jaccard(previousItems[p].nameTokens, editedItems[e].nameTokens) + 0.5 * Double(sameFields) / 4
                })
        }
        var taken = Set(previous.map(\.id))
        var result = edited
        var changes: [ItemChange] = []
        let moved = ItemMatcher.movedPairs(matches.enumerated().compactMap { e, p in p.map { ($0, e) } })
        // As for workouts: a repeated id passes on from its first holder only.
        let inherits = passesItsID(previous.map(\.id))
        var matchedIndex = 0
        for (e, match) in matches.enumerated() {
            guard let p = match else { continue }
            if inherits[p] {
                result[e].id = previous[p].id
            } else if edited[e].id.isEmpty || taken.contains(edited[e].id) {
                result[e].id = GeneratedIDs.firstFree(
                    GeneratedIDs.exerciseID(workoutID: workoutID, position: e, name: edited[e].name), taken: &taken)
            } else {
                taken.insert(edited[e].id)
            }
            var kinds: [ItemChange.Kind] = []
            let fields = previous[p].changedFields(comparedTo: edited[e])
            if edited[e].name != previous[p].name { kinds.append(.renamed) }
            if !fields.isEmpty { kinds.append(.modified) }
            if moved.contains(matchedIndex) { kinds.append(.moved) }
            matchedIndex += 1
            if !kinds.isEmpty {
                changes.append(ItemChange(
                    subject: .exercise(workoutID: workoutID, exerciseID: result[e].id), kinds: kinds, name: edited[e].name,
                    previousName: kinds.contains(.renamed) ? previous[p].name : nil, modifiedFields: fields))
            }
        }
        for (e, exercise) in edited.enumerated() where matches[e] == nil {
            if !exercise.id.isEmpty, !taken.contains(exercise.id) {
                taken.insert(exercise.id)
            } else {
                result[e].id = GeneratedIDs.firstFree(
                    GeneratedIDs.exerciseID(workoutID: workoutID, position: e, name: exercise.name), taken: &taken)
            }
            changes.append(ItemChange(
                subject: .exercise(workoutID: workoutID, exerciseID: result[e].id), kinds: [.added], name: exercise.name, modifiedFields: []))
        }
        let matched = Set(matches.compactMap { $0 })
        for (p, exercise) in previous.enumerated() where !matched.contains(p) {
            changes.append(ItemChange(
                subject: .exercise(workoutID: workoutID, exerciseID: exercise.id), kinds: [.removed], name: exercise.name, modifiedFields: []))
        }
        return (result, changes)
    }

    /// Exercises of a workout that is new as a whole: written ids stay when unique.
    private static func freshExerciseIDs(_ exercises: [Exercise], workoutID: String) -> [Exercise] {
        var taken = Set<String>()
        var result = exercises
        for (position, exercise) in exercises.enumerated() {
            if !exercise.id.isEmpty, !taken.contains(exercise.id) {
                taken.insert(exercise.id)
            } else {
                result[position].id = GeneratedIDs.firstFree(
                    GeneratedIDs.exerciseID(workoutID: workoutID, position: position, name: exercise.name), taken: &taken)
            }
        }
        return result
    }

    /// Entries in `current` but not `previous`, and the reverse, compared as (day, workout)
    /// with their app fields, counting repeats.
    private static func scheduleDifference(previous: [ScheduleEntry], current: [ScheduleEntry]) -> ([ScheduleEntry], [ScheduleEntry]) {
        var remaining: [ScheduleEntry: Int] = [:]
        for entry in previous { remaining[entry, default: 0] += 1 }
        var added: [ScheduleEntry] = []
        for entry in current {
            if let count = remaining[entry], count > 0 {
                remaining[entry] = count - 1
            } else {
                added.append(entry)
            }
        }
        var removed: [ScheduleEntry] = []
        for entry in previous where (remaining[entry] ?? 0) > 0 {
            removed.append(entry)
            remaining[entry]! -= 1
        }
        return (added, removed)
    }
}

extension Exercise {
    /// Names of the fields whose values differ (id and name aside).
    func changedFields(comparedTo other: Exercise) -> [String] {
        var fields: [String] = []
        if sets != other.sets { fields.append("sets") }
        if reps != other.reps { fields.append("reps") }
        if restSeconds != other.restSeconds { fields.append("restSeconds") }
        if weightKg != other.weightKg { fields.append("weightKg") }
        if unknownKeys != other.unknownKeys { fields.append("app fields") }
        return fields
    }
}

/// Workout contents computed on first use.
private final class LazyContents {
    private let workouts: [Workout]
    private var contents: [WorkoutContent?]

    init(_ workouts: [Workout]) {
        self.workouts = workouts
        contents = Array(repeating: nil, count: workouts.count)
    }

    subscript(position: Int) -> WorkoutContent {
        if let content = contents[position] { return content }
        let content = WorkoutContent(workouts[position])
        contents[position] = content
        return content
    }
}

/// A workout's content without ids, to recognise the same workout under another id.
private struct WorkoutContent: Equatable {
    var name: String
    var exercises: [[String]]
    var exerciseNames: Set<String>

    init(_ workout: Workout) {
        name = MatchItem.normalize(workout.name)
        exercises = workout.exercises.map { exercise in
            [MatchItem.normalize(exercise.name), String(exercise.sets), String(exercise.reps), String(exercise.restSeconds),
             exercise.weightKg?.canonical ?? "-"]
        }.sorted { $0.lexicographicallyPrecedes($1) }
        exerciseNames = Set(workout.exercises.map { MatchItem.normalize($0.name) })
    }

    static func == (lhs: WorkoutContent, rhs: WorkoutContent) -> Bool {
        lhs.name == rhs.name && lhs.exercises == rhs.exercises
    }
}
