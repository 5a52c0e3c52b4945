import PropertyBased
import ProgramDomain
import Testing

@Suite("Differences between programs")
struct ProgramDifferenceTests {
    @Test func noDifferencesExactlyWhenEqual() async {
        await propertyCheck(count: 2000, input: ProgramGen.validProgramCase) { testCase in
            var rng = testCase.random()
            let program = testCase.program
            #expect(program.differences(from: program).isEmpty)
            var edited = program
            let w = Int.random(in: 0..<edited.workouts.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: edited.workouts[w].exercises[0].reps = edited.workouts[w].exercises[0].reps % 100 + 1
            case 1: edited.workouts[w].unknownKeys.set("zz", .null)
            case 2: edited.workouts[w].exercises.removeLast()
            case 3: edited.schedule.append(ScheduleEntry(dayIndex: 6, workoutID: edited.workouts[w].id))
            default: edited.unknownKeys.set("appNew", .bool(true))
            }
            #expect(edited != program)
            #expect(!program.differences(from: edited).isEmpty)
        }
    }

    @Test func pathsNameItemsById() {
        let left = Program(name: "P", workouts: [
            Workout(id: "w-upper-a", name: "Upper A", exercises: [Exercise(id: "e-bench", name: "Bench", sets: 4, reps: 6, restSeconds: 90)]),
        ], schedule: [])
        var right = left
        right.workouts[0].exercises[0].reps = 8
        right.workouts[0].exercises[0].weightKg = JSONNumber("60")
        #expect(left.differences(from: right).map(\.description) == [
            "workouts[w-upper-a].exercises[e-bench].reps: 6 vs 8",
            "workouts[w-upper-a].exercises[e-bench].weightKg: null vs 60",
        ])
    }
}
