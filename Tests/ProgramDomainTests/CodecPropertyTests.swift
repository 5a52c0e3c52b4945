import PropertyBased
import ProgramDomain
import Testing

@Suite("Legacy codec round trips (property-based)")
struct CodecPropertyTests {
    @Test func encodeThenDecodeIsTheIdentity() async {
        await propertyCheck(count: 3000, input: ProgramGen.validProgram) { program in
            let bytes = Array(program.legacyJSONText.utf8)
            let decoded = try? Program(legacyJSON: bytes)
            #expect(decoded == program)
        }
    }

    @Test func decodeThenEncodeIsLosslessForValidPrograms() async {
        // The app's own document: members in an order we do not choose, numbers in its own
        // spelling, unknown keys anywhere. Decoding and encoding it gives equal JSON.
        await propertyCheck(count: 3000, input: ProgramGen.validProgramCase) { testCase in
            var rng = testCase.random()
            let document = testCase.program.legacyJSON.shufflingKeys(&rng)
            let text = document.jsonText
            guard let decoded = try? Program(legacyJSON: Array(text.utf8)) else {
                Issue.record("a valid program did not decode: \(text)")
                return
            }
            #expect(decoded.violations.isEmpty)
            let reparsed = try? JSONValue.parse(decoded.legacyJSONText)
            #expect(reparsed == document, "decode -> encode changed the JSON")
        }
    }

    @Test func parsingWhatTheWriterWroteGivesTheSameValue() async {
        await propertyCheck(count: 3000, input: ProgramGen.validProgram) { program in
            let value = program.legacyJSON
            #expect((try? JSONValue.parse(value.jsonText)) == value)
            let canonical = String(decoding: value.canonicalBytes, as: UTF8.self)
            #expect((try? JSONValue.parse(canonical)) == value)
        }
    }
}
