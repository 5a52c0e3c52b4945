import PropertyBased
import ProgramDomain
import Testing

@Suite("Canonical form and checksum")
struct CanonicalChecksumTests {
    @Test func checksumIgnoresKeyOrderWhitespaceAndNumberSpelling() async {
        await propertyCheck(count: 3000, input: ProgramGen.validProgramCase) { testCase in
            var rng = testCase.random()
            let original = testCase.program.legacyJSON
            let respelled = original.respellingNumbers(&rng).shufflingKeys(&rng)
            guard let a = try? Program(legacyJSON: Array(original.jsonText.utf8)),
                  let b = try? Program(legacyJSON: Array(Self.withWhitespace(respelled.jsonText).utf8))
            else {
                Issue.record("a respelled valid program did not decode")
                return
            }
            #expect(a.canonicalChecksum == b.canonicalChecksum)
            #expect(a.canonicalBytes == b.canonicalBytes)
        }
    }

    @Test func theProgramWriterAgreesWithTheGenericCanonicalWriter() async {
        // The program writer takes shortcuts (objects without unknown keys in one straight
        // line); the generic writer sorts every object's keys. Same bytes, always.
        await propertyCheck(count: 3000, input: ProgramGen.validProgram) { program in
            var program = program
            for w in program.workouts.indices {
                for e in program.workouts[w].exercises.indices { program.workouts[w].exercises[e].writesNullWeight = false }
            }
            #expect(program.canonicalBytes == program.legacyJSON.canonicalBytes)
        }
    }

    @Test func anyChangeOfContentChangesTheChecksum() async {
        await propertyCheck(count: 2000, input: ProgramGen.validProgramCase) { testCase in
            var rng = testCase.random()
            var edited = testCase.program
            let w = Int.random(in: 0..<edited.workouts.count, using: &rng)
            let e = Int.random(in: 0..<edited.workouts[w].exercises.count, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: edited.workouts[w].exercises[e].reps += 1
            case 1: edited.workouts[w].name += "!"
            case 2: edited.workouts[w].exercises[e].unknownKeys.set("added", .bool(true))
            default: edited.name += " v2"
            }
            #expect(edited.canonicalChecksum != testCase.program.canonicalChecksum)
        }
    }

    @Test func numberSpellingsOfOneValueAreOneCanonicalNumber() throws {
        let groups: [[String]] = [
            ["5", "5.0", "5.000", "5e0", "50e-1", "0.5e1", "5E+0"],
            ["82.5", "82.50", "825e-1", "8.25e1"],
            ["0", "-0", "0.0", "-0.0e5", "0e-3"],
            ["1e25", "10e24", "1E+25", "10000000000000000000000000"],
            ["0.000001", "1e-6", "1.0E-6"],
            ["1e-7", "0.0000001"],
        ]
        let expected = ["5", "82.5", "0", "1e25", "0.000001", "1e-7"]
        for (group, canonical) in zip(groups, expected) {
            for spelling in group {
                let number = try #require(JSONNumber(spelling), "\(spelling) is valid JSON")
                #expect(number.canonical == canonical, "\(spelling)")
                #expect(number == JSONNumber(group[0])!)
            }
        }
        #expect(JSONNumber("05") == nil)
        #expect(JSONNumber("5.") == nil)
        #expect(JSONNumber("+5") == nil)
        #expect(JSONNumber("0x10") == nil)
        #expect(JSONNumber("1e999999999999999999")?.canonical == "1e1000000000", "exponents saturate instead of overflowing")
    }

    @Test func plainSpellingsTakeNoShortcutToAWrongCanonicalNumber() throws {
        // Plain literals already in canonical spelling are written as they are; a literal
        // with an exponent always takes the long way. Both must agree for every value.
        let wholes = ["0", "1", "7", "10", "82", "100", "999999999999999999", "1234567890123456789", "1000000000000000000000"]
        let fractions = ["", "5", "50", "05", "25", "0", "000001", "1234567"]
        for sign in ["", "-"] {
            for whole in wholes {
                for fraction in fractions {
                    let plain = sign + whole + (fraction.isEmpty ? "" : "." + fraction)
                    let digits = (whole + fraction).drop { $0 == "0" }
                    let withExponent = sign + (digits.isEmpty ? "0" : digits) + "e-\(fraction.count)"
                    let number = try #require(JSONNumber(plain))
                    #expect(number.canonical == JSONNumber(withExponent)?.canonical, "\(plain)")
                }
            }
        }
    }

    @Test func theCanonicalFormIsPinned() throws {
        // This exact text and digest are what stored `source_checksum`s mean: if this test
        // fails, the canonical form changed and every stored checksum would look stale.
        let json = #"{"workouts":[{"name":"Upper A","id":"w-upper-a","exercises":[{"id":"e-bench","name":"Bench Press","sets":"4","reps":6.0,"restSeconds":150,"weightKg":80.50,"note":"Ünï"},{"id":"e-row","name":"Row","sets":4,"reps":8,"restSeconds":120,"weightKg":null}]}],"name":"Upper/Lower","schedule":[{"dayIndex":0,"workoutIndex":0}],"appVersion":"4.2"}"#
        let program = try Program(legacyJSON: Array(json.utf8))
        let canonical = String(decoding: program.canonicalBytes, as: UTF8.self)
        #expect(canonical == #"{"appVersion":"4.2","name":"Upper/Lower","schedule":[{"dayIndex":0,"workoutIndex":0}],"workouts":[{"exercises":[{"id":"e-bench","name":"Bench Press","note":"Ünï","reps":6,"restSeconds":150,"sets":4,"weightKg":80.5},{"id":"e-row","name":"Row","reps":8,"restSeconds":120,"sets":4}],"id":"w-upper-a","name":"Upper A"}]}"#)
        #expect(program.canonicalChecksum == SHA256Checksum.hex(canonical))
        #expect(program.canonicalChecksum == "d6927ff8b1c662ed38feafc15b385094d4bec3347e1c988e9aebc63d6bba881c")
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(SHA256Checksum.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Checksum.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    static func withWhitespace(_ json: String) -> String {
        json.replacing(",\"", with: " ,\n\t\"").replacing("{", with: "{ ")
    }
}
