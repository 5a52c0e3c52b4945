/// What deleting a workout changed, for the app to apply and to log.
public struct WorkoutDeletion: Sendable, Hashable {
    /// The program without the workout and without its schedule entries.
    public var program: Program
    /// The deleted workout.
    public var deletedWorkout: Workout
    /// The schedule entries that named the deleted workout, with their old positions.
    public var removedScheduleEntries: [RemovedScheduleEntry]
    /// How the enrollment's `current_day_index` (a position in the schedule) moved; nil
    /// when it stays as it was.
    public var currentDayIndexChange: CurrentDayIndexChange?

    public struct RemovedScheduleEntry: Sendable, Hashable {
        public var position: Int
        public var entry: ScheduleEntry

        public init(position: Int, entry: ScheduleEntry) {
            self.position = position
            self.entry = entry
        }
    }

    public struct CurrentDayIndexChange: Sendable, Hashable {
        public var from: Int
        /// nil when the schedule is now empty.
        public var to: Int?

        public init(from: Int, to: Int?) {
            self.from = from
            self.to = to
        }
    }

    /// Where an enrollment's `current_day_index` (a position in the old schedule) lands in
    /// the new one: it follows its entry when that entry stays, moves to the entry that took
    /// a removed one's place otherwise, and is clamped to the new schedule (nil when the
    /// schedule is now empty). Works for any enrollment of the program, not only the one
    /// `currentDayIndexChange` describes.
    public func currentDayIndex(old: Int?) -> Int? {
        guard let old else { return nil }
        guard !program.schedule.isEmpty else { return nil }
        let moved = old - removedScheduleEntries.filter { $0.position < old }.count
        return min(max(moved, 0), program.schedule.count - 1)
    }
}

/// An edit that cannot be made.
public enum ProgramEditError: Error, Sendable, Hashable, CustomStringConvertible {
    case noSuchWorkout(id: String)

    public var description: String {
        switch self {
        case .noSuchWorkout(let id): "the program has no workout with id \"\(id)\"; reload it and try again"
        }
    }
}

extension Program {
    /// Deletes the workout with `id`, and its schedule entries.
    ///
    /// Every other schedule entry keeps naming the same workout as before: entries name
    /// workouts by id, so the legacy bug (an index that silently slides onto the next
    /// workout, or off the end) cannot happen. `currentDayIndex` is the enrollment's
    /// position in the schedule: it follows its entry when that entry stays, moves to the
    /// entry that took the removed one's place otherwise, and is clamped to the new
    /// schedule (nil when the schedule is left empty).
    public func deletingWorkout(id: String, currentDayIndex: Int? = nil) throws(ProgramEditError) -> WorkoutDeletion {
        guard let deletedPosition = workoutPosition(of: id) else { throw .noSuchWorkout(id: id) }
        var remaining = workouts
        let deleted = remaining.remove(at: deletedPosition)
        var idCounts: [String: Int] = [:]
        for workout in remaining { idCounts[workout.id, default: 0] += 1 }

        var schedule: [ScheduleEntry] = []
        var removed: [WorkoutDeletion.RemovedScheduleEntry] = []
        for (position, entry) in self.schedule.enumerated() {
            guard let target = self.position(of: entry.workout) else {
                schedule.append(entry)  // already names no workout; validation reports it
                continue
            }
            if target == deletedPosition {
                removed.append(.init(position: position, entry: entry))
                continue
            }
            var repaired = entry
            let newPosition = target > deletedPosition ? target - 1 : target
            let targetID = remaining[newPosition].id
            repaired.workout = idCounts[targetID] == 1 ? .id(targetID) : .index(newPosition)
            schedule.append(repaired)
        }

        let program = Program(name: name, workouts: remaining, schedule: schedule, unknownKeys: unknownKeys)
        var deletion = WorkoutDeletion(program: program, deletedWorkout: deleted, removedScheduleEntries: removed, currentDayIndexChange: nil)
        if let old = currentDayIndex, deletion.currentDayIndex(old: old) != old {
            deletion.currentDayIndexChange = .init(from: old, to: deletion.currentDayIndex(old: old))
        }
        return deletion
    }
}
