import ProgramDomain
import Testing

@Suite("Workout deletion repairs the schedule")
struct WorkoutDeletionTests {
    /// Five workouts, each on its own day, plus a second day for workout 4.
    static let fiveDay: Program = {
        let workouts = (0..<5).map { Workout(id: "w-\($0)", name: "Day \($0)", exercises: [Exercise(id: "e", name: "E", sets: 3, reps: 5, restSeconds: 60)]) }
        let schedule = [0, 1, 2, 3, 4].map { ScheduleEntry(dayIndex: $0, workoutID: "w-\($0)") } + [ScheduleEntry(dayIndex: 6, workoutID: "w-4")]
        return Program(name: "Five", workouts: workouts, schedule: schedule)
    }()

    @Test func deletingTheMiddleWorkoutLeavesEveryOtherEntryOnItsWorkout() throws {
        let deletion = try Self.fiveDay.deletingWorkout(id: "w-2")
        let program = deletion.program
        // Entry -> workout name, before and after: an index-based repair would have slid
        // days 3, 4 and 6 onto the next workout (or off the end).
        func days(_ program: Program) -> [Int: String] {
            Dictionary(uniqueKeysWithValues: program.schedule.map { ($0.dayIndex, program.workouts[program.position(of: $0.workout)!].name) })
        }
        var expected = days(Self.fiveDay)
        expected.removeValue(forKey: 2)
        #expect(days(program) == expected)
        #expect(program.workouts.map(\.id) == ["w-0", "w-1", "w-3", "w-4"])
        #expect(deletion.removedScheduleEntries.map(\.position) == [2])
        #expect(program.violations.isEmpty)
        // And in the legacy JSON the indexes are rewritten to match.
        let legacy = try JSONValue.parse(program.legacyJSONText)
        guard case .object(let root) = legacy, case .array(let schedule)? = root["schedule"] else {
            Issue.record("no schedule")
            return
        }
        let indexes = schedule.compactMap { entry -> String? in
            guard case .object(let object) = entry, case .number(let index)? = object["workoutIndex"] else { return nil }
            return index.literal
        }
        #expect(indexes == ["0", "1", "2", "3", "3"])
    }

    @Test func theCurrentDayFollowsItsEntryOrIsClamped() throws {
        // Pointing after the removed entry: shifts with it.
        #expect(try Self.fiveDay.deletingWorkout(id: "w-2", currentDayIndex: 4).currentDayIndexChange == .init(from: 4, to: 3))
        // Pointing before: unchanged, and nothing reported.
        let before = try Self.fiveDay.deletingWorkout(id: "w-2", currentDayIndex: 1)
        #expect(before.currentDayIndexChange == nil)
        #expect(before.currentDayIndex(old: 1) == 1)
        // Pointing at the removed entry: the next entry takes its place.
        #expect(try Self.fiveDay.deletingWorkout(id: "w-2", currentDayIndex: 2).currentDayIndexChange == nil)
        // Pointing past the end (two entries of w-4 removed): clamped to the last entry.
        #expect(try Self.fiveDay.deletingWorkout(id: "w-4", currentDayIndex: 5).currentDayIndexChange == .init(from: 5, to: 3))
        // Already past the end before: clamped too.
        #expect(try Self.fiveDay.deletingWorkout(id: "w-0", currentDayIndex: 40).currentDayIndexChange == .init(from: 40, to: 4))
    }

    @Test func deletingTheOnlyScheduledWorkoutEmptiesTheSchedule() throws {
        let program = Program(name: "One", workouts: [Workout(id: "w", name: "W", exercises: [])], schedule: [ScheduleEntry(dayIndex: 0, workoutID: "w")])
        let deletion = try program.deletingWorkout(id: "w", currentDayIndex: 0)
        #expect(deletion.program.schedule.isEmpty)
        #expect(deletion.currentDayIndexChange == .init(from: 0, to: nil))
        #expect(deletion.currentDayIndex(old: 0) == nil)
    }

    @Test func deletingAnUnknownWorkoutIsAClearError() {
        #expect(throws: ProgramEditError.noSuchWorkout(id: "w-9")) { try Self.fiveDay.deletingWorkout(id: "w-9") }
        #expect(ProgramEditError.noSuchWorkout(id: "w-9").description.contains("reload"))
    }

    @Test func legacyEntriesThatNameNoWorkoutAreLeftForValidationToReport() throws {
        let json = #"{"name":"L","workouts":[{"id":"a","name":"A","exercises":[]},{"id":"b","name":"B","exercises":[]}],"schedule":[{"dayIndex":0,"workoutIndex":1},{"dayIndex":1,"workoutIndex":7}]}"#
        let deletion = try Program(legacyJSON: Array(json.utf8)).deletingWorkout(id: "a")
        #expect(deletion.program.schedule.map(\.workout) == [.id("b"), .index(7)])
        #expect(deletion.program.violations.map(\.path.description) == ["schedule[1].workoutIndex"])
    }
}
