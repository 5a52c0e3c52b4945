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

    @Test func stringsOfEveryLengthAreWrittenWithExactlyTheBytesThatNeedEscaping() throws {
        var rng = Xoshiro(seed: (9, 10, 11, 12))
        let pieces: [String] = ["a", "Z", "7", " ", "-", "\"", "\\", "\n", "\t", "\u{1}", "\u{1f}", "\u{7f}", "é", "💪"]
        for length in 0...20 {
            for _ in 0..<300 {
                // Mostly plain ASCII, sometimes a byte to escape or a non-ASCII character.
                let text = (0..<length).map { _ in Int.random(in: 0..<10, using: &rng) < 8 ? "ab-c D".randomElement(using: &rng).map(String.init)! : pieces.randomElement(using: &rng)! }.joined()
                // Short ASCII strings take the writer's fast path.
                #expect(SmallASCIIString.words(of: text) != nil || text.utf8.count > 15 || text.utf8.contains { $0 >= 0x80 })
                let written = JSONValue.string(text).jsonText
                #expect(written == Self.escaped(text), "\(Array(text.utf8))")
                #expect(try JSONValue.parse(Array(written.utf8)) == .string(text))
            }
        }
    }

    /// The canonical writer's escaping, spelled out independently of it.
    static func escaped(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{8}": out += "\\b"
            case "\u{c}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    @Test func idsCompareEqualExactlyWhenTheStandardLibrarySaysSo() {
        // The same text held in a heap buffer rather than in the string itself.
        func spilled(_ text: String) -> String {
            var string = String()
            string.reserveCapacity(64)
            string += text
            return string
        }
        let texts = ["", "e-0-1", "e-0-2", "e-0-10", "w-1", "123456789012345", "12345678901234", "é", "e\u{301}"]
        for a in texts {
            for b in texts + texts.map(spilled) {
                #expect(SmallASCIIString.equal(a, b) == (a == b), "\(a) vs \(b)")
                #expect(SmallASCIIString.equal(b, a) == (a == b), "\(b) vs \(a)")
            }
        }
        #expect(SmallASCIIString.words(of: spilled("e-0-1")) == nil)  // the spilled ones take `==`
    }
}
