import Benchmark
import ProgramDomain

/// A 6-workout x 8-exercise program as the app writes it: realistic names (some non-ASCII),
/// weights with decimals, a weekly schedule, a few unknown keys. About 5 KB of JSON.
let sixByEight: [UInt8] = {
    let exerciseNames = [
        "Bench Press", "Barbell Row", "Back Squat", "Romanian Deadlift", "Overhead Press", "Pull-up", "Walking Lunge",
        "Biceps Curl", "Face Pull", "Calf Raise", "Leg Press", "Dip",
    ]
    let workoutNames = ["Upper A", "Lower A", "Push", "Pull", "Legs", "Kraft Oberkörper"]
    var workouts: [String] = []
    for w in 0..<6 {
        var exercises: [String] = []
        for e in 0..<8 {
            let weight = e % 3 == 2 ? "" : #","weightKg":\#(40 + w * 5 + e).5"#
            let note = e == 0 ? #","coachNote":"Tempo 3-1-1 · form ✓""# : ""
            exercises.append(#"{"id":"e-\#(w)-\#(e)","name":"\#(exerciseNames[(w + e) % exerciseNames.count])","sets":\#(3 + e % 3),"reps":\#(5 + e),"restSeconds":\#(60 + 30 * (e % 4))\#(weight)\#(note)}"#)
        }
        workouts.append(#"{"id":"w-\#(w)","name":"\#(workoutNames[w])","exercises":[\#(exercises.joined(separator: ","))]}"#)
    }
    let schedule = (0..<6).map { #"{"dayIndex":\#($0),"workoutIndex":\#($0)}"# }
    let json = #"{"name":"Six-day split","appVersion":"4.2.0","workouts":[\#(workouts.joined(separator: ","))],"schedule":[\#(schedule.joined(separator: ","))]}"#
    return Array(json.utf8)
}()

/// The same program as the backfill and the check receive it: `program_json` is jsonb, and
/// PostgreSQL prints jsonb with keys ordered by length, then bytes, and a space after every
/// `,` and `:`.
let sixByEightFromJSONB: [UInt8] = {
    func render(_ value: JSONValue) -> String {
        switch value {
        case .object(let object):
            let members = object.members.sorted {
                $0.key.utf8.count != $1.key.utf8.count ? $0.key.utf8.count < $1.key.utf8.count : $0.key.utf8.lexicographicallyPrecedes($1.key.utf8)
            }
            return "{" + members.map { render(.string($0.key)) + ": " + render($0.value) }.joined(separator: ", ") + "}"
        case .array(let values): return "[" + values.map(render).joined(separator: ", ") + "]"
        default: return value.jsonText
        }
    }
    guard let value = try? JSONValue.parse(sixByEight) else { fatalError("fixture must parse") }
    return Array(render(value).utf8)
}()

/// What the backfill and the nightly check do with every program. `scripts/bench` turns
/// the first two into programs per second on one core; the issue's goal is >= 50,000.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,  // differences of a microsecond matter here
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 100)

    for (form, json) in [("", sixByEight), (", as jsonb prints it", sixByEightFromJSONB)] {
        Benchmark("domain: decode + validate + checksum 6x8\(form)") { benchmark in
            for _ in benchmark.scaledIterations {
                guard let program = try? Program(legacyJSON: json), program.violations.isEmpty else { fatalError("fixture must be valid") }
                blackHole(program.canonicalChecksum)
            }
        }
    }

    Benchmark("domain: parse JSON 6x8") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try? JSONValue.parse(sixByEight)) }
    }

    Benchmark("domain: checksum 6x8") { benchmark in
        let program = try Program(legacyJSON: sixByEight)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(program.canonicalChecksum) }
    }
}
