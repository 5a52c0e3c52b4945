@testable import ProgramDomain
import PropertyBased
import Testing

/// Short ASCII strings are made directly in the standard library's small-string form
/// (`SmallASCIIString`). They must be the very strings the standard library makes from the
/// same bytes, wherever they stand in the input.
@Suite("Short strings")
struct ShortStringTests {
    @Test func theFastPathIsTakenOnThisPlatform() {
        // Otherwise every other test here would pass through the ordinary path only.
        #expect(SmallASCIIString.layoutHolds)
    }

    @Test func stringsOfEveryLengthAreTheStandardLibrarysOwnWhereverTheyStand() throws {
        var rng = Xoshiro(seed: (5, 6, 7, 8))
        for length in 0...20 {
            for round in 0..<200 {
                // Printable ASCII without `"` and `\`, so the bytes are the string.
                let text = String(decoding: (0..<length).map { _ in
                    var byte = UInt8.random(in: 0x20...0x7e, using: &rng)
                    while byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { byte = UInt8.random(in: 0x20...0x7e, using: &rng) }
                    return byte
                }, as: UTF8.self)
                // Alone (the string ends the input: fewer than 16 bytes readable), then
                // followed by more input.
                let inputs = ["\"\(text)\"", "[\"\(text)\", \"\(String(repeating: "x", count: round % 20))\"]"]
                for input in inputs {
                    let parsed = try JSONValue.parse(Array(input.utf8))
                    let string: String
                    switch parsed {
                    case .string(let value): string = value
                    case .array(let values):
                        guard case .string(let value) = values.first else { Issue.record("not a string: \(input)"); return }
                        string = value
                    default: Issue.record("not a string: \(input)"); return
                    }
                    #expect(string == text)
                    #expect(string.hashValue == text.hashValue)
                    #expect(Array(string.utf8) == Array(text.utf8))
                    #expect(string.count == text.count)
                    #expect(string + "é" == text + "é")
                    #expect(unsafeBitCast(string, to: (UInt64, UInt64).self) == unsafeBitCast(text, to: (UInt64, UInt64).self) || length > 15)
                }
            }
        }
    }

    @Test func nonASCIIAndLongerStringsTakeTheOrdinaryPath() throws {
        for text in ["Oberkörper", "💪", "é", "Tempo 3-1-1 · form ✓", "sixteen bytes ok", "a much longer exercise name than fits"] {
            let value = try JSONValue.parse(Array("\"\(text)\"".utf8))
            #expect(value == .string(text))
        }
        let bytes = Array("é".utf8)
        #expect(bytes.withUnsafeBufferPointer { SmallASCIIString.make($0.baseAddress!, count: $0.count, readable: $0.count) } == nil)
        let sixteen = Array("0123456789abcdef".utf8)
        #expect(sixteen.withUnsafeBufferPointer { SmallASCIIString.make($0.baseAddress!, count: 16, readable: 16) } == nil)
    }

    @Test func shortNumberLiteralsKeepTheirSpelling() throws {
        for literal in ["0", "-1", "82.5", "1e3", "-0.000", "123456789012345", "1234567890123456789", "4.25E-7"] {
            guard case .number(let number) = try JSONValue.parse(Array(literal.utf8)) else {
                Issue.record("\(literal) did not parse as a number")
                continue
            }
            #expect(number.literal == literal)
            #expect(number.literal.hashValue == literal.hashValue)
        }
    }
}
