import ProgramDomain
import Testing

@Suite("Invariants")
struct ValidationTests {
    static let valid = Program(
        name: "Upper/Lower",
        workouts: [
            Workout(id: "w-a", name: "A", exercises: [
                Exercise(id: "e-1", name: "Bench", sets: 4, reps: 6, restSeconds: 150, weightKg: JSONNumber("80")),
                Exercise(id: "e-2", name: "Row", sets: 4, reps: 8, restSeconds: 120),
            ]),
            Workout(id: "w-b", name: "B", exercises: [
                Exercise(id: "e-1", name: "Squat", sets: 5, reps: 5, restSeconds: 180, weightKg: JSONNumber("100")),
            ]),
        ],
        schedule: [ScheduleEntry(dayIndex: 0, workoutID: "w-a"), ScheduleEntry(dayIndex: 3, workoutID: "w-b")])

    /// One broken program per rule, and the exact path and rule it must report.
    static let cases: [(String, @Sendable (inout Program) -> Void, String, Violation.Rule)] = [
        ("empty name", { $0.name = "" }, "name", .nameEmpty),
        ("201-character name", { $0.name = String(repeating: "é", count: 201) }, "name", .nameTooLong),
        ("empty workout id", { $0.workouts[1].id = ""; $0.schedule[1].workout = .id("") }, "workouts[1].id", .workoutIDEmpty),
        ("repeated workout id", { $0.workouts[1].id = "w-a"; $0.schedule.removeLast() }, "workouts[1].id", .workoutIDRepeated),
        ("repeated exercise id", { $0.workouts[0].exercises[1].id = "e-1" }, "workouts[0].exercises[1].id", .exerciseIDRepeated),
        ("0 sets", { $0.workouts[0].exercises[1].sets = 0 }, "workouts[0].exercises[1].sets", .setsOutOfRange),
        ("21 sets", { $0.workouts[0].exercises[1].sets = 21 }, "workouts[0].exercises[1].sets", .setsOutOfRange),
        ("0 reps", { $0.workouts[1].exercises[0].reps = 0 }, "workouts[1].exercises[0].reps", .repsOutOfRange),
        ("101 reps", { $0.workouts[1].exercises[0].reps = 101 }, "workouts[1].exercises[0].reps", .repsOutOfRange),
        ("negative rest", { $0.workouts[0].exercises[0].restSeconds = -1 }, "workouts[0].exercises[0].restSeconds", .restSecondsOutOfRange),
        ("1801 s rest", { $0.workouts[0].exercises[0].restSeconds = 1801 }, "workouts[0].exercises[0].restSeconds", .restSecondsOutOfRange),
        ("negative weight", { $0.workouts[0].exercises[0].weightKg = JSONNumber("-0.5") }, "workouts[0].exercises[0].weightKg", .weightOutOfRange),
        ("weight just over 1000", { $0.workouts[0].exercises[0].weightKg = JSONNumber("1000.0000000000000000001") }, "workouts[0].exercises[0].weightKg", .weightOutOfRange),
        ("day 7", { $0.schedule[1].dayIndex = 7 }, "schedule[1].dayIndex", .dayIndexOutOfRange),
        ("day -1", { $0.schedule[0].dayIndex = -1 }, "schedule[0].dayIndex", .dayIndexOutOfRange),
        ("index past the end", { $0.schedule[1].workout = .index(2) }, "schedule[1].workoutIndex", .workoutIndexOutOfRange),
        ("unknown workout id", { $0.schedule[1].workout = .id("w-gone") }, "schedule[1].workoutIndex", .workoutIndexOutOfRange),
        ("repeated day and workout", { $0.schedule.append(ScheduleEntry(dayIndex: 3, workoutID: "w-b")) }, "schedule[2]", .scheduleEntryRepeated),
    ]

    @Test func theValidFixtureIsValid() throws {
        #expect(Self.valid.violations.isEmpty)
        try Self.valid.validate()
    }

    @Test(arguments: cases.indices)
    func eachRuleIsReportedAtItsExactPath(_ index: Int) {
        let (label, breakIt, path, rule) = Self.cases[index]
        var program = Self.valid
        breakIt(&program)
        #expect(program.violations.map(\.path.description) == [path], "\(label)")
        #expect(program.violations.map(\.rule) == [rule], "\(label)")
        #expect(program.violations.allSatisfy { !$0.message.isEmpty })
    }

    @Test func boundariesAreInclusive() {
        var program = Self.valid
        program.name = String(repeating: "👍🏽", count: 200)  // 200 characters, far more bytes
        program.workouts[0].exercises[0].sets = 20
        program.workouts[0].exercises[0].reps = 100
        program.workouts[0].exercises[0].restSeconds = 1800
        program.workouts[0].exercises[0].weightKg = JSONNumber("1000.000")
        program.workouts[0].exercises[1].sets = 1
        program.workouts[0].exercises[1].reps = 1
        program.workouts[0].exercises[1].restSeconds = 0
        program.workouts[0].exercises[1].weightKg = JSONNumber("0")
        program.schedule[0].dayIndex = 6
        #expect(program.violations.isEmpty)
    }

    @Test func allViolationsAreReportedTogetherInDocumentOrder() {
        var program = Self.valid
        program.name = ""
        program.workouts[0].exercises[1].sets = 0
        program.workouts[0].exercises[1].reps = 500
        program.workouts[1].id = "w-a"
        program.schedule[0].dayIndex = 9
        program.schedule[1].workout = .index(5)
        let error = #expect(throws: ProgramValidationError.self) { try program.validate() }
        #expect(error?.violations.map(\.path.description) == [
            "name", "workouts[0].exercises[1].sets", "workouts[0].exercises[1].reps", "workouts[1].id",
            "schedule[0].dayIndex", "schedule[1].workoutIndex",
        ])
        #expect(error?.description.hasPrefix("the program breaks 6 rules: name: The program needs a name.") == true)
    }

    @Test func repeatedIdsAreFoundTheSameWayInLongLists() {
        // Lists longer than 32 are hashed instead of compared in pairs.
        for count in [8, 40] {
            var program = Self.valid
            let template = program.workouts[0].exercises[0]
            program.workouts[0].exercises = (0..<count).map { position in
                var exercise = template
                exercise.id = "e-\(position)"
                return exercise
            }
            program.workouts[0].exercises[count - 3].id = "e-3"
            program.workouts[0].exercises[count - 1].id = "e-3"
            #expect(program.violations.map(\.path.description) == [
                "workouts[0].exercises[\(count - 3)].id", "workouts[0].exercises[\(count - 1)].id",
            ])
            #expect(program.violations.last?.message == #"Exercise id "e-3" is already used by workouts[0].exercises[3] in this workout."#)
        }
    }

    @Test func messagesReadWellForAnApp() {
        var program = Self.valid
        program.workouts[0].exercises[0].reps = 0
        program.workouts[0].exercises[0].weightKg = JSONNumber("1200.50")
        #expect(program.violations.map(\.message) == [
            "Reps of \"Bench\" must be between 1 and 100; it is 0.",
            "Weight of \"Bench\" must be between 0 and 1000 kg; it is 1200.5.",
        ])
    }
}
