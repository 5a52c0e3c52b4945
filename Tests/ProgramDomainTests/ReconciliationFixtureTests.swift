import ProgramDomain
import Testing

@Suite("Identity reconciliation (fixtures)")
struct ReconciliationFixtureTests {
    static func exercise(_ id: String, _ name: String, reps: Int = 8) -> Exercise {
        Exercise(id: id, name: name, sets: 3, reps: reps, restSeconds: 90)
    }

    static let previous = Program(
        name: "PPL",
        workouts: [
            Workout(id: "w-push", name: "Push", exercises: [exercise("e-bench", "Bench Press"), exercise("e-ohp", "Overhead Press"), exercise("e-dip", "Dip")]),
            Workout(id: "w-pull", name: "Pull", exercises: [exercise("e-row", "Barbell Row"), exercise("e-curl", "Biceps Curl")]),
            Workout(id: "w-legs", name: "Legs", exercises: [exercise("e-squat", "Back Squat"), exercise("e-lunge", "Lunge")]),
        ],
        schedule: [ScheduleEntry(dayIndex: 0, workoutID: "w-push"), ScheduleEntry(dayIndex: 2, workoutID: "w-pull"), ScheduleEntry(dayIndex: 4, workoutID: "w-legs")])

    @Test func anEditThatKeepsEveryItemInPlaceEndsAsTheFullMatchWouldEndIt() {
        // Values changed, every item where it was with its id and name: the shortcut.
        var edited = Self.previous
        edited.workouts[0].exercises[0].reps = 5
        edited.workouts[2].exercises[1].sets = 4
        let shortcut = edited.reconciled(with: Self.previous)
        #expect(shortcut.program == edited)
        #expect(shortcut.changes.description == """
            workout w-push "Push": modified (exercises)
            workout w-legs "Legs": modified (exercises)
            exercise e-bench of workout w-push "Bench Press": modified (reps)
            exercise e-lunge of workout w-legs "Lunge": modified (sets)
            """)
        // The same edit with names differing only in case and spacing takes the full
        // matcher (rule 1 on normalized names): the same ids, no item moved, added or removed.
        var spelled = edited
        for w in spelled.workouts.indices {
            spelled.workouts[w].name = " " + spelled.workouts[w].name.uppercased()
            for e in spelled.workouts[w].exercises.indices { spelled.workouts[w].exercises[e].name += "  " }
        }
        let full = spelled.reconciled(with: Self.previous)
        #expect(full.program.workouts.map(\.id) == shortcut.program.workouts.map(\.id))
        #expect(full.program.workouts.map { $0.exercises.map(\.id) } == shortcut.program.workouts.map { $0.exercises.map(\.id) })
        #expect(!full.changes.items.contains { !Set($0.kinds).isDisjoint(with: [.moved, .added, .removed]) })
        // A previous id held twice is not taken as "in place": the full match decides.
        var repeated = Self.previous
        repeated.workouts[1].exercises[1].id = "e-row"
        let repaired = repeated.reconciled(with: repeated)
        let ids = repaired.program.workouts[1].exercises.map(\.id)
        #expect(ids.first == "e-row" && ids.count == 2 && ids[1] != "e-row", "\(ids)")
    }

    @Test func aTypicalAIEditIsSummarizedExactly() throws {
        // The AI returns the program without ids: Pull renamed and moved first, Legs removed,
        // a new Core workout, Bench reps changed, Dip dropped, a new Push-up, schedule redone.
        let json = #"""
        {"name":"PPL v2","workouts":[
          {"name":"Pull Day","exercises":[{"name":"Barbell Row","sets":3,"reps":8,"restSeconds":90},{"name":"Biceps Curl","sets":3,"reps":8,"restSeconds":90}]},
          {"name":"Push","exercises":[{"name":"Bench Press","sets":3,"reps":5,"restSeconds":90},{"name":"Overhead Press","sets":3,"reps":8,"restSeconds":90},{"name":"Push-up","sets":3,"reps":20,"restSeconds":60}]},
          {"name":"Core","exercises":[{"name":"Plank","sets":3,"reps":1,"restSeconds":60}]}],
         "schedule":[{"dayIndex":0,"workoutIndex":1},{"dayIndex":2,"workoutIndex":0},{"dayIndex":5,"workoutIndex":2}]}
        """#
        let edited = try Program(legacyJSON: Array(json.utf8))
        let result = edited.reconciled(with: Self.previous)
        let program = result.program
        #expect(program.workouts.map(\.id) == ["w-pull", "w-push", GeneratedIDs.workoutID(position: 2, name: "Core")])
        #expect(program.workouts[1].exercises.map(\.id).prefix(2) == ["e-bench", "e-ohp"])
        #expect(program.schedule.map(\.workout) == [.id("w-push"), .id("w-pull"), .id(program.workouts[2].id)])
        #expect(program.violations.isEmpty)
        #expect(result.changes.description == """
            program renamed "PPL" -> "PPL v2"
            workout w-pull "Pull Day": renamed "Pull" -> "Pull Day", moved
            workout w-push "Push": modified (exercises)
            workout \(program.workouts[2].id) "Core": added
            workout w-legs "Legs": removed
            exercise e-bench of workout w-push "Bench Press": modified (reps)
            exercise \(program.workouts[1].exercises[2].id) of workout w-push "Push-up": added
            exercise e-dip of workout w-push "Dip": removed
            schedule: day 5 workout \(program.workouts[2].id) added
            schedule: day 4 workout w-legs removed
            """)
    }

    @Test func aRenameThatKeepsItsIdKeepsItEvenIntoADeletedWorkoutsName() throws {
        // The user deletes Legs and renames Pull to "Legs": the id says which is which.
        var edited = Self.previous
        edited.workouts.remove(at: 2)
        edited.schedule.removeLast()
        edited.workouts[1].name = "Legs"
        let result = edited.reconciled(with: Self.previous)
        #expect(result.program.workouts.map(\.id) == ["w-push", "w-pull"])
        #expect(result.changes.items(.renamed).map(\.name) == ["Legs"])
        #expect(result.changes.items(.removed).map(\.subject) == [.workout(id: "w-legs")])
    }

    @Test func aRepeatedIdPassesOnFromItsFirstHolderOnlySoAMessyProgramCanBeRepaired() {
        // Legacy mess: two workouts and two exercises that share an id.
        let messy = Program(
            name: "Old",
            workouts: [
                Workout(id: "w-a", name: "A", exercises: [Self.exercise("e-1", "Bench Press"), Self.exercise("e-1", "Barbell Row")]),
                Workout(id: "w-a", name: "B", exercises: [Self.exercise("e-9", "Squat")]),
            ],
            schedule: [])
        #expect(Set(messy.violations.map(\.rule)) == [.workoutIDRepeated, .exerciseIDRepeated])
        // The same program saved again (a rename): the first holders keep the ids, the others
        // get fresh ones, and the result breaks no rule.
        var renamed = messy
        renamed.name = "Old, renamed"
        let unchangedIDs = renamed.reconciled(with: messy).program
        #expect(unchangedIDs.workouts.map(\.id).first == "w-a" && unchangedIDs.workouts[1].id != "w-a")
        #expect(unchangedIDs.workouts[0].exercises.map(\.id).first == "e-1" && unchangedIDs.workouts[0].exercises[1].id != "e-1")
        #expect(unchangedIDs.violations.isEmpty)
        // An app that gives the later holders ids of its own keeps them.
        var repaired = messy
        repaired.workouts[1].id = "w-b"
        repaired.workouts[0].exercises[1].id = "e-2"
        let kept = repaired.reconciled(with: messy).program
        #expect(kept.workouts.map(\.id) == ["w-a", "w-b"] && kept.workouts[0].exercises.map(\.id) == ["e-1", "e-2"])
    }

    @Test func swappedIdsAreRecognisedByName() {
        var edited = Self.previous
        edited.workouts[0].id = "w-pull"
        edited.workouts[1].id = "w-push"
        edited.schedule = [ScheduleEntry(dayIndex: 0, workoutID: "w-pull"), ScheduleEntry(dayIndex: 2, workoutID: "w-push"), ScheduleEntry(dayIndex: 4, workoutID: "w-legs")]
        let result = edited.reconciled(with: Self.previous)
        #expect(result.program.workouts.map(\.id) == ["w-push", "w-pull", "w-legs"])
        #expect(result.program.schedule == Self.previous.schedule, "the schedule follows the workouts, not the swapped ids")
        #expect(result.changes.isEmpty)
    }

    @Test func repeatedAndReusedIdsNeverGiveTwoItemsOneId() {
        var edited = Self.previous
        // Two new workouts reuse an existing id and each other's; a new exercise reuses an
        // id of its workout.
        edited.workouts.append(Workout(id: "w-push", name: "Cardio", exercises: [Self.exercise("e-bike", "Bike")]))
        edited.workouts.append(Workout(id: "w-push", name: "Mobility", exercises: [Self.exercise("x", "Stretch"), Self.exercise("x", "Foam roll")]))
        edited.workouts[0].exercises.append(Self.exercise("e-bench", "Incline Press", reps: 12))
        let result = edited.reconciled(with: Self.previous)
        #expect(result.program.idsAreUniqueAtEachLevel)
        #expect(result.program.workouts.prefix(3).map(\.id) == ["w-push", "w-pull", "w-legs"])
        #expect(result.program.workouts[0].exercises.prefix(3).map(\.id) == ["e-bench", "e-ohp", "e-dip"])
        // Two workouts and one exercise; exercises of a new workout come with it.
        #expect(result.changes.items(.added).map(\.name) == ["Cardio", "Mobility", "Incline Press"])
    }

    @Test func anIdOfARemovedWorkoutIsNotGivenToANewOne() {
        var edited = Self.previous
        edited.workouts[2] = Workout(id: "w-legs", name: "Swim", exercises: [Self.exercise("e-1", "Freestyle", reps: 1)])
        // Same id, different name and nothing in common: the id wins (a rename + rewrite),
        // as the rules say; a retired id passed in is never handed out again.
        let kept = edited.reconciled(with: Self.previous)
        #expect(kept.program.workouts[2].id == "w-legs")
        var brandNew = Self.previous
        brandNew.workouts.append(Workout(id: "w-old", name: "Old", exercises: []))
        let result = brandNew.reconciled(with: Self.previous, retiredWorkoutIDs: ["w-old"])
        #expect(result.program.workouts[3].id != "w-old")
    }
}
