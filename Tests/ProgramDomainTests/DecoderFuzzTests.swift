import PropertyBased
import ProgramDomain
import Testing

/// Random, truncated and mutated JSON through the decoder: it must never crash, every
/// failure must be a `LegacyDecodingError` with at least one located problem, and whatever
/// does decode must survive encode -> decode unchanged. 120,000 inputs per run, from a
/// fixed seed so a failure reproduces.
@Suite("Decoder fuzzing")
struct DecoderFuzzTests {
    static let tokens: [String] = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud83d", "\\ude00", "null", "true", "false", "-", "0", "1e", "1.5", "\"5\"",
        "\"name\"", "\"workouts\"", "\"exercises\"", "\"schedule\"", "\"id\"", "\"sets\"", "\"reps\"", "\"restSeconds\"",
        "\"weightKg\"", "\"dayIndex\"", "\"workoutIndex\"", " ", "\n", "é", "💪", "\u{0}", "9999999999999999999999", "1e400",
    ]

    /// Checks one input; a broken promise is recorded as a test issue.
    static func check(_ bytes: [UInt8]) {
        do {
            let program = try Program(legacyJSON: bytes)
            _ = program.violations
            _ = program.canonicalChecksum
            let again = try? Program(legacyJSON: Array(program.legacyJSONText.utf8))
            #expect(again == program, "encode -> decode changed \(String(decoding: bytes, as: UTF8.self))")
        } catch {
            #expect(!error.problems.isEmpty)
            #expect(error.problems.allSatisfy { !$0.reason.description.isEmpty })
        }
    }

    @Test func randomBytesAndTokenSoup() {
        var rng = Xoshiro(seed: (1, 2, 3, 4))
        for round in 0..<40_000 {
            var bytes: [UInt8] = []
            if round % 2 == 0 {
                for _ in 0..<Int.random(in: 0...64, using: &rng) { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
            } else {
                for _ in 0..<Int.random(in: 1...40, using: &rng) { bytes += Array(Self.tokens.randomElement(using: &rng)!.utf8) }
            }
            Self.check(bytes)
        }
    }

    @Test func truncationsAndMutationsOfRealPrograms() {
        var rng: any SeededRandomNumberGenerator = Xoshiro(seed: (5, 6, 7, 8))
        let interesting: [UInt8] = Array("{}[],:\"\\0123456789-.eE tfn".utf8) + [0x00, 0x1f, 0x7f, 0xc3, 0xff]
        var checked = 0
        while checked < 80_000 {
            let program = ProgramGen.makeValidProgram(&rng)
            let bytes = Array(program.legacyJSONText.utf8)
            // Every 7th prefix, and a handful of single-byte mutations and splices.
            for cut in stride(from: 0, to: bytes.count, by: 7) where checked < 80_000 {
                Self.check(Array(bytes[..<cut]))
                checked += 1
            }
            for _ in 0..<20 where checked < 80_000 {
                var mutated = bytes
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: mutated[Int.random(in: 0..<mutated.count, using: &rng)] = interesting.randomElement(using: &rng)!
                case 1: mutated.remove(at: Int.random(in: 0..<mutated.count, using: &rng))
                default:
                    let from = Int.random(in: 0..<mutated.count, using: &rng)
                    let length = Int.random(in: 1...min(40, mutated.count - from), using: &rng)
                    mutated.insert(contentsOf: mutated[from..<(from + length)], at: Int.random(in: 0...mutated.count, using: &rng))
                }
                Self.check(mutated)
                checked += 1
            }
        }
    }
}
