import PropertyBased
import ProgramDomain

/// Random inputs for the property tests, drawn from PropertyBased's seeded generator so a
/// failure prints a seed that reproduces it (`.fixedSeed(...)`).
enum ProgramGen {
    /// Names mixing ASCII, accents, CJK, emoji, quotes, backslashes and control characters.
    static let nameParts = [
        "Upper", "Lower", "Push", "Pull", "Legs", "Kraft Oberkörper", "Jambes 💪", "柔軟性", "Día de pierna",
        "Core & Mobility", "\"Quoted\"", "Back\\slash", "Tab\there", "Line\nbreak", "Ünïcödé", "Заминка", "🏋️‍♀️ Lift",
    ]

    /// A valid program (passes every invariant) with unique names at each level, unknown
    /// keys at every level and exact decimal weights.
    static let validProgram = Generator<Program, Shrink.None<Program>>(run: { rng in makeValidProgram(&rng) })

    /// A valid program and a seed for whatever else the property shuffles or edits, so
    /// the whole case is reproducible from PropertyBased's printed seed.
    static let validProgramCase = Generator<ProgramCase, Shrink.None<ProgramCase>>(run: { rng in
        ProgramCase(program: makeValidProgram(&rng), seed: UInt64.random(in: 0...UInt64.max, using: &rng))
    })

    static func makeValidProgram(_ rng: inout any SeededRandomNumberGenerator) -> Program {
        let workoutCount = Int.random(in: 1...6, using: &rng)
        var workouts: [Workout] = []
        var usedWorkoutNames = Set<String>()
        for w in 0..<workoutCount {
            let name = uniqueName(&usedWorkoutNames, &rng, suffix: "W\(w)")
            var exercises: [Exercise] = []
            var usedExerciseNames = Set<String>()
            for e in 0..<Int.random(in: 1...8, using: &rng) {
                let weight: JSONNumber? = Bool.random(using: &rng) ? nil : decimalWeight(&rng)
                exercises.append(Exercise(
                    id: "e-\(w)-\(e)-\(UInt16.random(in: 0...999, using: &rng))",
                    name: uniqueName(&usedExerciseNames, &rng, suffix: "E\(e)"),
                    sets: Int.random(in: ProgramLimits.sets, using: &rng), reps: Int.random(in: ProgramLimits.reps, using: &rng),
                    restSeconds: Int.random(in: ProgramLimits.restSeconds, using: &rng), weightKg: weight,
                    writesNullWeight: weight == nil && Bool.random(using: &rng),
                    unknownKeys: maybeUnknownKeys(&rng)))
            }
            workouts.append(Workout(id: "w-\(w)-\(UInt16.random(in: 0...999, using: &rng))", name: name, exercises: exercises, unknownKeys: maybeUnknownKeys(&rng)))
        }
        var schedule: [ScheduleEntry] = []
        var usedSlots = Set<[Int]>()
        for _ in 0..<Int.random(in: 0...7, using: &rng) {
            let day = Int.random(in: ProgramLimits.dayIndex, using: &rng)
            let workout = Int.random(in: 0..<workoutCount, using: &rng)
            guard usedSlots.insert([day, workout]).inserted else { continue }
            schedule.append(ScheduleEntry(dayIndex: day, workoutID: workouts[workout].id, unknownKeys: maybeUnknownKeys(&rng)))
        }
        var programName = nameParts.randomElement(using: &rng)! + " \(Int.random(in: 1...99, using: &rng))"
        if Bool.random(using: &rng) { programName += " " + nameParts.randomElement(using: &rng)! }
        return Program(name: programName, workouts: workouts, schedule: schedule, unknownKeys: maybeUnknownKeys(&rng))
    }

    static func uniqueName(_ used: inout Set<String>, _ rng: inout any SeededRandomNumberGenerator, suffix: String) -> String {
        var name = nameParts.randomElement(using: &rng)!
        if used.contains(MatchKey.normalize(name)) { name += " \(suffix)" }
        used.insert(MatchKey.normalize(name))
        return name
    }

    /// 0-1000 kg with up to two decimals, spelled as JSON would (`82.5`, `100`, `0.25`).
    static func decimalWeight(_ rng: inout any SeededRandomNumberGenerator) -> JSONNumber {
        let hundredths = Int.random(in: 0...100_000, using: &rng)
        let whole = hundredths / 100, fraction = hundredths % 100
        if fraction == 0 { return JSONNumber(whole) }
        let text = fraction % 10 == 0 ? "\(whole).\(fraction / 10)" : "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
        return JSONNumber(text)!
    }

    static func maybeUnknownKeys(_ rng: inout any SeededRandomNumberGenerator) -> JSONObject {
        guard Int.random(in: 0..<3, using: &rng) == 0 else { return [:] }
        var object = JSONObject()
        for index in 0..<Int.random(in: 1...3, using: &rng) {
            object.set("app\(["Note", "Meta", "Flag", "Tags", "Ü"].randomElement(using: &rng)!)\(index)", jsonValue(&rng, depth: 0))
        }
        return object
    }

    /// Any JSON value, nested up to three levels.
    static func jsonValue(_ rng: inout any SeededRandomNumberGenerator, depth: Int) -> JSONValue {
        switch Int.random(in: 0..<(depth < 3 ? 8 : 6), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(JSONNumber(Int.random(in: -1_000_000...1_000_000, using: &rng)))
        case 3: return .number(JSONNumber(["0.87", "-1.5e-7", "1E+25", "3.14159265358979323846264338327950288", "0", "-0.0"].randomElement(using: &rng)!)!)
        case 4, 5: return .string(nameParts.randomElement(using: &rng)!)
        case 6: return .array((0..<Int.random(in: 0...3, using: &rng)).map { _ in jsonValue(&rng, depth: depth + 1) })
        default:
            var object = JSONObject()
            for index in 0..<Int.random(in: 0...3, using: &rng) { object.set("k\(index)\(nameParts.randomElement(using: &rng)!)", jsonValue(&rng, depth: depth + 1)) }
            return .object(object)
        }
    }
}

struct ProgramCase: Sendable, CustomStringConvertible {
    var program: Program
    var seed: UInt64

    /// A generator for the property's own random choices.
    func random() -> any SeededRandomNumberGenerator {
        Xoshiro(seed: (seed, seed ^ 0x9E37_79B9_7F4A_7C15, ~seed, seed &* 31 &+ 7))
    }

    var description: String { "seed \(seed): \(program.legacyJSONText)" }
}

/// The normalization the reconciler uses, repeated here on purpose: the generators must not
/// produce two names the reconciler would consider equal.
enum MatchKey {
    static func normalize(_ name: String) -> String {
        name.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}

extension JSONValue {
    /// The same JSON with every object's members in a random order, nested levels too.
    func shufflingKeys(_ rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        switch self {
        case .array(let values): return .array(values.map { $0.shufflingKeys(&rng) })
        case .object(let object):
            var members = object.members.map { (key: $0.key, value: $0.value.shufflingKeys(&rng)) }
            members.shuffle(using: &rng)
            return .object(JSONObject(members))
        default: return self
        }
    }

    /// The same JSON with numbers respelled (`5` -> `5.0`, `50e-1`, `"5"` for known numeric
    /// fields), which must not change a program's canonical checksum.
    func respellingNumbers(_ rng: inout any SeededRandomNumberGenerator, inKnownField: Bool = false) -> JSONValue {
        switch self {
        case .number(let number):
            let canonical = number.canonical
            var spellings = [number.literal, canonical]
            if canonical.contains("e") {
                spellings.append(canonical.split(separator: "e").joined(separator: "E"))
            } else if canonical.contains(".") {
                spellings += [canonical + "00", canonical + "e0"]
            } else {
                spellings += [canonical + ".0", canonical + "e0", canonical + "0e-1"]
            }
            let choice = spellings.compactMap(JSONNumber.init).randomElement(using: &rng)!
            if inKnownField, Bool.random(using: &rng) { return .string(choice.literal) }
            return .number(choice)
        case .array(let values): return .array(values.map { $0.respellingNumbers(&rng, inKnownField: inKnownField) })
        case .object(let object):
            let known: Set<String> = ["sets", "reps", "restSeconds", "weightKg", "dayIndex", "workoutIndex"]
            return .object(JSONObject(object.members.map { member in
                (key: member.key, value: member.value.respellingNumbers(&rng, inKnownField: known.contains(member.key) && !inKnownField ? true : false))
            }))
        default: return self
        }
    }
}
