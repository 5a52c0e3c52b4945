import ProgramDomain
import Testing

/// One fixture per kind of mess DESIGN.md §2 lists, and the decoding errors, with exact paths.
@Suite("Messy legacy JSON")
struct LegacyMessFixtureTests {
    func decode(_ json: String) throws -> Program {
        try Program(legacyJSON: Array(json.utf8))
    }

    func problems(_ json: String) -> [String] {
        do {
            _ = try decode(json)
            return []
        } catch let error as LegacyDecodingError {
            return error.problems.map(\.description)
        } catch {
            return ["unexpected error type \(type(of: error))"]
        }
    }

    @Test func missingIdsGetTheDocumentedDeterministicIds() throws {
        let json = #"{"name":"Old","workouts":[{"name":"Upper A","exercises":[{"name":"Bench Press","sets":4,"reps":6,"restSeconds":150},{"name":"Row","sets":4,"reps":8,"restSeconds":120}]},{"name":"Lower","exercises":[{"name":"Squat","sets":5,"reps":5,"restSeconds":180}]}],"schedule":[{"dayIndex":0,"workoutIndex":1},{"dayIndex":3,"workoutIndex":0}]}"#
        let program = try decode(json)
        // The rule (GeneratedIDs) spelled out, so a change to it cannot pass unnoticed.
        let upper = "w-" + SHA256Checksum.hex("program-versioning/workout-id/v1\n0\nUpper A").prefix(12)
        let lower = "w-" + SHA256Checksum.hex("program-versioning/workout-id/v1\n1\nLower").prefix(12)
        #expect(program.workouts.map(\.id) == [upper, lower])
        #expect(program.workouts[0].exercises.map(\.id) == [
            "e-" + SHA256Checksum.hex("program-versioning/exercise-id/v1\n\(upper)\n0\nBench Press").prefix(12),
            "e-" + SHA256Checksum.hex("program-versioning/exercise-id/v1\n\(upper)\n1\nRow").prefix(12),
        ])
        // Pinned values: the same input must give these ids in every release.
        #expect(upper == "w-6ced3e06d422")
        #expect(program.schedule.map(\.workout) == [.id(lower), .id(upper)])
        #expect(program.violations.isEmpty)
        // Decoding again (another process, another day) gives the same ids; encoding writes them.
        #expect(try decode(json) == program)
        #expect(try decode(program.legacyJSONText) == program)
    }

    @Test func generatedIdsNeverCollideWithWrittenOnes() throws {
        let taken = GeneratedIDs.workoutID(position: 1, name: "B")
        let json = #"{"name":"Mixed","workouts":[{"id":"\#(taken)","name":"A","exercises":[]},{"name":"B","exercises":[]}],"schedule":[]}"#
        let program = try decode(json)
        #expect(program.workouts.map(\.id) == [taken, taken + "-2"])
    }

    @Test func numbersAsStringsAreAccepted() throws {
        let json = #"{"name":"S","workouts":[{"id":"w","name":"W","exercises":[{"id":"e","name":"E","sets":"4","reps":"10","restSeconds":"90","weightKg":"82.50"}]}],"schedule":[{"dayIndex":"2","workoutIndex":"0"}]}"#
        let program = try decode(json)
        let exercise = program.workouts[0].exercises[0]
        #expect([exercise.sets, exercise.reps, exercise.restSeconds] == [4, 10, 90])
        #expect(exercise.weightKg?.canonical == "82.5")
        #expect(program.schedule == [ScheduleEntry(dayIndex: 2, workoutID: "w")])
        #expect(program.violations.isEmpty)
        // Encoding repairs the spelling.
        #expect(program.legacyJSONText.contains(#""sets":4"#))
    }

    @Test func repeatedIdsAreReportedAtEachLaterOccurrence() throws {
        let json = #"{"name":"R","workouts":[{"id":"w-a","name":"A","exercises":[{"id":"e-1","name":"X","sets":3,"reps":5,"restSeconds":60},{"id":"e-1","name":"Y","sets":3,"reps":5,"restSeconds":60}]},{"id":"w-a","name":"B","exercises":[]}],"schedule":[{"dayIndex":0,"workoutIndex":1}]}"#
        let program = try decode(json)
        #expect(program.violations.map(\.path.description) == ["workouts[0].exercises[1].id", "workouts[1].id"])
        #expect(program.violations.map(\.rule) == [.exerciseIDRepeated, .workoutIDRepeated])
        // The schedule cannot name workout 1 by its (shared) id: it keeps the index, and
        // encoding writes it back unchanged.
        #expect(program.schedule[0].workout == .index(1))
        #expect(try JSONValue.parse(program.legacyJSONText) == JSONValue.parse(json))
    }

    @Test func aScheduleIndexPastTheEndIsReportedNotDropped() throws {
        let json = #"{"name":"P","workouts":[{"id":"w-a","name":"A","exercises":[]}],"schedule":[{"dayIndex":0,"workoutIndex":0},{"dayIndex":4,"workoutIndex":3}]}"#
        let program = try decode(json)
        #expect(program.schedule[1].workout == .index(3))
        #expect(program.violations.map(\.path.description) == ["schedule[1].workoutIndex"])
        #expect(program.violations.first?.message == "Schedule entry points at workout 3, but the program has 1 workout.")
        #expect(try JSONValue.parse(program.legacyJSONText) == JSONValue.parse(json))
    }

    @Test func unknownKeysSurviveAtEveryLevel() throws {
        let json = #"{"name":"U","appVersion":"4.2.0","goals":["strength","柔軟性"],"workouts":[{"id":"w","name":"W","aiMeta":{"model":"coach-v2","confidence":0.87},"exercises":[{"id":"e","name":"E","sets":3,"reps":5,"restSeconds":60,"coachNote":"Tempo 3-1-1 · 注意 form ✓","big":1.50e300}]}],"schedule":[{"dayIndex":0,"workoutIndex":0,"reminder":"07:30"}]}"#
        let program = try decode(json)
        #expect(program.unknownKeys["appVersion"] == .string("4.2.0"))
        #expect(program.workouts[0].unknownKeys["aiMeta"] == .object(["model": .string("coach-v2"), "confidence": .number(JSONNumber("0.87")!)]))
        #expect(program.workouts[0].exercises[0].unknownKeys["coachNote"] == .string("Tempo 3-1-1 · 注意 form ✓"))
        #expect(program.schedule[0].unknownKeys["reminder"] == .string("07:30"))
        #expect(try JSONValue.parse(program.legacyJSONText) == JSONValue.parse(json))
        #expect(program.legacyJSONText.contains("1.50e300"), "unknown numbers keep their exact literal")
    }

    @Test func anOrphanSessionWorkoutIdNamesNoWorkout() throws {
        // Sessions whose workout id exists nowhere are the backfill's to report; the domain
        // answers the question it needs: which workout, if any, an id names.
        let program = try decode(#"{"name":"O","workouts":[{"id":"w-a","name":"A","exercises":[]}],"schedule":[]}"#)
        #expect(program.workoutPosition(of: "w-a") == 0)
        #expect(program.workoutPosition(of: "w-deleted-7") == nil)
    }

    @Test func everyStructuralProblemIsReportedWithItsPath() {
        let json = #"{"workouts":[{"id":5,"name":"A","exercises":[{"name":"E","sets":"four","reps":4.5,"restSeconds":1e30,"weightKg":true}]},"oops"],"schedule":{"dayIndex":0}}"#
        #expect(problems(json) == [
            "name: is missing",
            "workouts[0].id: must be a string, found a number",
            #"workouts[0].exercises[0].sets: must be a number, found the string "four""#,
            "workouts[0].exercises[0].reps: must be a whole number, found 4.5",
            "workouts[0].exercises[0].restSeconds: 1e30 is too large",
            "workouts[0].exercises[0].weightKg: must be a number, found a boolean",
            "workouts[1]: must be an object, found a string",
            "schedule: must be an array, found an object",
        ])
    }

    @Test func missingRequiredKeysAreReported() {
        // In document order: a missing key is placed where its object starts.
        #expect(problems(#"{"name":"N","workouts":[{"name":"W","exercises":[{"id":"e","name":"E","sets":3}]}]}"#) == [
            "schedule: is missing",
            "workouts[0].exercises[0].reps: is missing",
            "workouts[0].exercises[0].restSeconds: is missing",
        ])
        #expect(problems("[]") == ["$: must be an object, found an array"])
    }

    @Test func invalidJSONIsOneProblemAtTheRootWithTheByteOffset() {
        #expect(problems(#"{"name": "A", "workouts": [}"#) == ["$: invalid JSON at byte 27: unexpected character '}', expected a value"])
        #expect(problems("") == ["$: invalid JSON at byte 0: unexpected end of input, expected a value"])
        #expect(problems(#"{"name":"\ud800"}"#) == [#"$: invalid JSON at byte 9: a high surrogate \u escape without its low half"#])
        #expect(problems("{\"name\":\"\u{1}\"}") == ["$: invalid JSON at byte 9: control character 0x1 inside a string"])
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(problems(deep) == ["$: invalid JSON at byte 128: nested deeper than 128 levels"])
    }

    @Test func stringsAreScannedRightAtEveryPositionOfAnEightByteWord() throws {
        // Strings and keys are scanned eight bytes at a time: a control character, an escape
        // or a non-ASCII byte must be found wherever it falls in a word.
        for length in 1...20 {
            for position in 0..<length {
                var name = Array(repeating: UInt8(ascii: "a"), count: length)
                name[position] = 0x01
                let json = Array(#"{"name":""#.utf8) + name + Array(#"","workouts":[],"schedule":[]}"#.utf8)
                #expect(problems(String(decoding: json, as: UTF8.self)) == [
                    "$: invalid JSON at byte \(9 + position): control character 0x1 inside a string",
                ])
                var escaped = String(repeating: "a", count: length)
                escaped.insert(contentsOf: #"\""#, at: escaped.index(escaped.startIndex, offsetBy: position))
                let program = try decode(#"{"name":"\#(escaped)","workouts":[],"schedule":[],"k\#(escaped)":1}"#)
                var expected = String(repeating: "a", count: length)
                expected.insert("\"", at: expected.index(expected.startIndex, offsetBy: position))
                #expect(program.name == expected)
                #expect(program.unknownKeys["k" + expected] == .number(JSONNumber(1)))
                var accented = String(repeating: "a", count: length)
                accented.insert("é", at: accented.index(accented.startIndex, offsetBy: position))
                #expect(try decode(#"{"name":"\#(accented)","workouts":[],"schedule":[]}"#).name == accented)
            }
        }
    }

    @Test func keysAreRecognizedWhateverOrderEachObjectWritesThemIn() throws {
        // The decoder guesses each key from the order of the object before; a wrong guess,
        // a key that starts like a known one, an escaped spelling or spaces around the colon
        // must never read a value under the wrong key.
        let json = #"""
            {"name": "P", "workouts": [{"id": "w", "name": "W", "exercises": [
              {"id":"a","name":"A","sets":3,"reps":5,"restSeconds":60},
              {"id":"f","name":"F","setsX":"z","sets":8,"reps":10,"restSeconds":110},
              {"id":"b","name":"B","sets" : 4,"setsNote":"x","reps":6,"restSeconds":70},
              {"name":"C","id":"c","reps":7,"set":1,"sets":5,"restSeconds":80},
              {"id":"d","n\u0061me":"D","sets":6,"reps":8,"restSeconds":90,"name ":"y"},
              {"id": "e", "name": "E", "reps": 9, "sets": 7, "weightKg": 20, "restSeconds": 100}
            ]}], "schedule": []}
            """#
        let exercises = try decode(json).workouts[0].exercises
        #expect(exercises.map(\.id) == ["a", "f", "b", "c", "d", "e"])
        #expect(exercises.map(\.name) == ["A", "F", "B", "C", "D", "E"])
        #expect(exercises.map(\.sets) == [3, 8, 4, 5, 6, 7])
        #expect(exercises.map(\.reps) == [5, 10, 6, 7, 8, 9])
        #expect(exercises.map(\.restSeconds) == [60, 110, 70, 80, 90, 100])
        #expect(exercises.map(\.weightKg) == [nil, nil, nil, nil, nil, JSONNumber(20)])
        #expect(exercises.map(\.unknownKeys) == [
            [:], ["setsX": .string("z")], ["setsNote": .string("x")], ["set": .number(JSONNumber(1))], ["name ": .string("y")], [:],
        ])
    }

    @Test func invalidUTF8IsATypedError() {
        var bytes = Array(#"{"name":"A"#.utf8)
        bytes += [0xC3, 0x28]  // a broken two-byte sequence
        bytes += Array(#"","workouts":[],"schedule":[]}"#.utf8)
        #expect(throws: LegacyDecodingError.self) { try Program(legacyJSON: bytes) }
    }

    @Test func aRepeatedKeyKeepsItsLastValueAsPostgresJsonbDoes() throws {
        let value = try JSONValue.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(value.jsonText == #"{"a":3,"b":2}"#)
    }
}
