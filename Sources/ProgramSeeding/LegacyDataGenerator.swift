import Foundation
import ProgramDomain
#if canImport(Glibc)
import Glibc
#endif

/// The kinds of mess real legacy rows carry (DESIGN.md §2), which `seed --messy` plants.
public enum LegacyMess: String, CaseIterable, Sendable {
    /// Written before ids existed: no `id` on workouts or exercises. Their sessions stored
    /// the workout's position as text ("0", "1", ...) and their sets the exercise's position,
    /// the only handles the old app had.
    case missingIds = "MISSING_IDS"
    /// Numbers sent as strings: `"sets": "4"`.
    case numbersAsStrings = "NUMBERS_AS_STRINGS"
    /// Two workouts, and two exercises of one workout, share an id. (Named, as the
    /// next one, by the rule the reports give it.)
    case repeatedIds = "WORKOUT_ID_REPEATED"
    /// A schedule entry whose `workoutIndex` points past the end (the deletion bug).
    case scheduleIndexPastEnd = "WORKOUT_INDEX_OUT_OF_RANGE"
    /// Keys the app added that we do not model, at every level, with unicode.
    case unknownKeys = "UNKNOWN_KEYS"
    /// Sessions whose workout id exists in no version of the program.
    case orphanSessionWorkout = "ORPHAN_SESSION_WORKOUT"

    /// What the backfill and the check make of a program (or session) with this mess, in
    /// the codes their reports use.
    public var reportedAs: String {
        switch self {
        case .missingIds: "migrated: ids assigned, old sessions linked by position"
        case .numbersAsStrings: "migrated: numbers read from their strings"
        case .repeatedIds: "reported: INVALID_LEGACY WORKOUT_ID_REPEATED and EXERCISE_ID_REPEATED"
        case .scheduleIndexPastEnd: "reported: INVALID_LEGACY WORKOUT_INDEX_OUT_OF_RANGE"
        case .unknownKeys: "migrated: unknown keys kept"
        case .orphanSessionWorkout: "sessions reported: ORPHAN_SESSION_WORKOUT"
        }
    }
}

/// One generated legacy program with its enrollment, sessions and sets, as COPY text fields.
struct GeneratedProgram {
    var programRow: [String?]
    var stateRow: [String?]
    var sessionRows: [[String?]]
    var setRows: [[String?]]
    var mess: LegacyMess?
}

/// Builds realistic legacy programs deterministically from a seed.
///
/// Programs have 1-6 workouts of 3-8 exercises (by default) and a weekly schedule; each has an
/// enrollment and past sessions with logged sets. With `messyPercent` > 0 that share of
/// programs carries one kind of mess each, the kinds taking turns so every kind appears.
struct LegacyDataGenerator {
    let seed: UInt64
    let messyPercent: Double
    let sessionsPerProgram: Int
    var workoutsPerProgram: ClosedRange<Int> = 1...6
    var exercisesPerWorkout: ClosedRange<Int> = 3...8
    /// The kinds of mess planted; nil plants every kind.
    var messKinds: Set<LegacyMess>?

    /// 2026-01-01T00:00:00Z: generated timestamps count from here, not from "now", so the
    /// same seed gives the same rows.
    static let baseTime: TimeInterval = 1_767_225_600

    private static let workoutNames = [
        "Upper A", "Upper B", "Lower A", "Lower B", "Push", "Pull", "Legs", "Full Body", "Conditioning", "Core & Mobility",
        "Kraft Oberkörper", "Jambes 💪",
    ]
    private static let exercises: [(id: String, name: String, weight: Double?)] = [
        ("bench", "Bench Press", 80), ("row", "Barbell Row", 70), ("squat", "Back Squat", 100),
        ("deadlift", "Deadlift", 120), ("ohp", "Overhead Press", 45), ("pullup", "Pull-up", nil),
        ("dip", "Dip", nil), ("lunge", "Walking Lunge", 20), ("curl", "Biceps Curl", 14),
        ("plank", "Plank", nil), ("rdl", "Romanian Deadlift", 90), ("legpress", "Leg Press", 160),
        ("facepull", "Face Pull", 25), ("calf", "Calf Raise", 60), ("pushup", "Push-up", nil),
    ]

    func program(at index: Int) -> GeneratedProgram {
        // Each program draws from its own stream: program i is the same whatever N is.
        var random = SeededRandom(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(index))
        let programID = random.uuid()
        let userID = random.uuid()
        // The kind is drawn from all kinds, then dropped if not wanted: the rest of the
        // stream (and so every other program) stays the same whatever kinds are asked for.
        var mess: LegacyMess? = random.chance(messyPercent)
            ? LegacyMess.allCases[Int(random.next() % UInt64(LegacyMess.allCases.count))] : nil
        if let kind = mess, let messKinds, !messKinds.contains(kind) { mess = nil }
        let created = Self.baseTime + Double(index % 86_400) * 60

        // Workouts and exercises.
        let workoutCount = random.int(workoutsPerProgram)
        var workouts: [JSONValue] = []
        var workoutIDs: [String] = []
        var workoutExercises: [[(id: String, weight: Double?)]] = []
        var usedNames = Set<String>()
        for w in 0..<workoutCount {
            var name = random.pick(Self.workoutNames)
            while usedNames.contains(name), usedNames.count < Self.workoutNames.count { name = random.pick(Self.workoutNames) }
            usedNames.insert(name)
            var workoutID = "w-\(w + 1)-\(random.next() % 100_000)"
            if mess == .repeatedIds, w == 1 { workoutID = workoutIDs[0] }
            workoutIDs.append(workoutID)

            let exerciseCount = random.int(exercisesPerWorkout)
            var picked = Array(Self.exercises.indices).shuffledDeterministically(using: &random).prefix(exerciseCount)
            if picked.isEmpty { picked = [0] }
            var exerciseJSON: [JSONValue] = []
            var exerciseList: [(id: String, weight: Double?)] = []
            for (position, exerciseIndex) in picked.enumerated() {
                let exercise = Self.exercises[exerciseIndex]
                var exerciseID = "e-\(exercise.id)"
                if mess == .repeatedIds, w == 0, position == 1 { exerciseID = exerciseList[0].id }
                let weight = exercise.weight.map { ($0 + Double(random.int(-4...8)) * 2.5) }
                exerciseList.append((exerciseID, weight))
                var fields: [(String, JSONValue)] = []
                if mess != .missingIds { fields.append(("id", .string(exerciseID))) }
                fields.append(("name", .string(exercise.name)))
                let sets = random.int(2...5), reps = random.pick([5, 6, 8, 10, 12, 15]), rest = random.pick([60, 90, 120, 150, 180])
                if mess == .numbersAsStrings {
                    fields += [("sets", .string(String(sets))), ("reps", .string(String(reps))), ("restSeconds", .string(String(rest)))]
                } else {
                    fields += [("sets", .number(Double(sets))), ("reps", .number(Double(reps))), ("restSeconds", .number(Double(rest)))]
                }
                if let weight {
                    fields.append(("weightKg", mess == .numbersAsStrings ? .string(Self.format(weight)) : .number(weight)))
                } else if random.chance(30) {
                    fields.append(("weightKg", .null))
                }
                if mess == .unknownKeys {
                    fields.append(("coachNote", .string("Tempo 3-1-1 · 注意 form ✓")))
                }
                exerciseJSON.append(.object(fields))
            }
            workoutExercises.append(exerciseList)
            var fields: [(String, JSONValue)] = []
            if mess != .missingIds { fields.append(("id", .string(workoutID))) }
            fields.append(("name", .string(name)))
            fields.append(("exercises", .array(exerciseJSON)))
            if mess == .unknownKeys { fields.append(("aiMeta", .object([("model", .string("coach-v2")), ("confidence", .number(0.87))]))) }
            workouts.append(.object(fields))
        }

        // Schedule: each workout on a distinct day, in week order.
        var days = Array(0...6).shuffledDeterministically(using: &random).prefix(min(7, workoutCount + random.int(0...2))).sorted()
        if days.isEmpty { days = [0] }
        var schedule: [JSONValue] = days.enumerated().map { slot, day in
            var fields: [(String, JSONValue)] = [("dayIndex", .number(Double(day))), ("workoutIndex", .number(Double(slot % workoutCount)))]
            if mess == .numbersAsStrings, slot == 0 { fields[0].1 = .string(String(day)) }
            if mess == .unknownKeys, slot == 0 { fields.append(("reminder", .string("07:30"))) }
            return .object(fields)
        }
        if mess == .scheduleIndexPastEnd {
            let freeDay = (0...6).first { !days.contains($0) } ?? 6
            schedule.append(.object([("dayIndex", .number(Double(freeDay))), ("workoutIndex", .number(Double(workoutCount + 1)))]))
        }

        var programFields: [(String, JSONValue)] = [
            ("name", .string("Program \(index + 1): \(workoutCount)-day split")),
            ("workouts", .array(workouts)),
            ("schedule", .array(schedule)),
        ]
        if mess == .unknownKeys {
            programFields.insert(("appVersion", .string("4.2.0")), at: 1)
            programFields.append(("goals", .array([.string("strength"), .string("Ausdauer"), .string("柔軟性")])))
        }
        let json = JSONValue.object(programFields).jsonText

        let programRow: [String?] = [
            programID.lowercased, userID.lowercased, json, Self.timestamp(created), Self.timestamp(created + 3600),
        ]
        let currentDay: String? = random.chance(70) ? String(random.int(0...6)) : nil
        let stateRow: [String?] = [userID.lowercased, programID.lowercased, currentDay, "ACTIVE"]

        // Sessions and sets.
        var sessionRows: [[String?]] = []
        var setRows: [[String?]] = []
        for s in 0..<sessionsPerProgram {
            let sessionID = random.uuid()
            let w = random.int(0...(workoutCount - 1))
            var workoutRef = mess == .missingIds ? String(w) : workoutIDs[w]
            if mess == .orphanSessionWorkout, s == 0 { workoutRef = "w-deleted-\(random.next() % 1000)" }
            let started = created + Double(s + 1) * 86_400 * 2 + Double(random.int(0...3600))
            let isLast = s == sessionsPerProgram - 1
            let status = isLast && random.chance(20) ? "IN_PROGRESS" : (random.chance(5) ? "ABANDONED" : "COMPLETED")
            let completed: String? = status == "COMPLETED" ? Self.timestamp(started + 3000) : nil
            sessionRows.append([sessionID.lowercased, userID.lowercased, programID.lowercased, workoutRef, status, Self.timestamp(started), completed])
            for (e, exercise) in workoutExercises[w].enumerated() where status != "IN_PROGRESS" || e < 2 {
                for setIndex in 0..<random.int(1...3) {
                    let reps = random.int(4...12)
                    setRows.append([
                        random.uuid().lowercased, sessionID.lowercased, userID.lowercased, mess == .missingIds ? String(e) : exercise.id,
                        String(setIndex), String(reps),
                        exercise.weight.map(Self.format), Self.timestamp(started + Double(e * 300 + setIndex * 90)),
                    ])
                }
            }
        }
        return GeneratedProgram(programRow: programRow, stateRow: stateRow, sessionRows: sessionRows, setRows: setRows, mess: mess)
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// `YYYY-MM-DD HH:MM:SS+00`, PostgreSQL's input format, in UTC.
    static func timestamp(_ seconds: TimeInterval) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : String(value) }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))+00"
    }
}

extension Array {
    /// Fisher-Yates with our own generator: unlike the standard library's `shuffled`, its
    /// result cannot change with a Swift release, so seeds stay reproducible.
    func shuffledDeterministically(using random: inout SeededRandom) -> [Element] {
        var copy = self
        guard copy.count > 1 else { return copy }
        for i in stride(from: copy.count - 1, to: 0, by: -1) {
            copy.swapAt(i, Int(random.next() % UInt64(i + 1)))
        }
        return copy
    }
}

extension UUID {
    var lowercased: String { uuidString.lowercased() }
}

/// The generator writes JSON with the domain's own value type: members stay in the order
/// given, so it controls the exact shape (strings where numbers belong, repeated ids) that an
/// encoder would not write.
private extension JSONValue {
    static func number(_ value: Double) -> JSONValue { .number(JSONNumber(value) ?? JSONNumber(0)) }
    static func object(_ fields: [(String, JSONValue)]) -> JSONValue { .object(JSONObject(fields.map { (key: $0.0, value: $0.1) })) }
}
