/// Why some bytes are not JSON, and where.
public struct JSONSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Byte offset of the problem in the input.
    public var offset: Int
    public var reason: String

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Parses one JSON document (RFC 8259) from UTF-8 bytes.
    ///
    /// Strict where it matters for safety: invalid UTF-8, lone surrogate escapes and nesting
    /// deeper than `JSONParser.maximumDepth` are errors, never a crash. A key repeated in
    /// one object keeps its first position and its last value, as PostgreSQL's jsonb does.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONSyntaxError) -> JSONValue {
        if let result = bytes.withContiguousStorageIfAvailable(parseResult) { return try result.get() }
        return try Array(bytes).withUnsafeBufferPointer(parseResult).get()
    }

    /// Parses one JSON document from text.
    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        var text = text
        return try text.withUTF8(parseResult).get()
    }

    private static func parseResult(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, JSONSyntaxError> {
        var parser = JSONParser(buffer)
        return Result { () throws(JSONSyntaxError) in try parser.parseDocument() }
    }
}

/// A recursive-descent parser over a byte buffer.
struct JSONParser {
    /// Deeper documents are refused: the parser recurses, and no program nests beyond 10.
    static let maximumDepth = 128

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected data after the JSON value") }
        return value
    }

    private mutating func parseValue() throws(JSONSyntaxError) -> JSONValue {
        guard index < bytes.count else { throw failure("unexpected end of input, expected a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return .object(try parseObject())
        case UInt8(ascii: "["): return .array(try parseArray())
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw failure("unexpected character \(describe(bytes[index])), expected a value")
        }
    }

    private mutating func parseObject() throws(JSONSyntaxError) -> JSONObject {
        try enterContainer()
        index += 1  // {
        var members: [(key: String, value: JSONValue)] = []
        var positions: [String: Int]?  // built only for large objects, to find repeated keys fast
        skipWhitespace()
        if peek(UInt8(ascii: "}")) {
            index += 1
            depth -= 1
            return JSONObject(members)
        }
        while true {
            skipWhitespace()
            guard peek(UInt8(ascii: "\"")) else { throw failure("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else { throw failure("expected ':' after a key") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            if let existing = position(of: key, in: members, index: &positions) {
                members[existing].value = value
            } else {
                members.append((key: key, value: value))
                positions?[key] = members.count - 1
            }
            skipWhitespace()
            guard index < bytes.count else { throw failure("unexpected end of input inside an object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw failure("expected ',' or '}' in an object") }
            index += 1
            depth -= 1
            return JSONObject(members)
        }
    }

    private func position(of key: String, in members: [(key: String, value: JSONValue)], index: inout [String: Int]?) -> Int? {
        if index == nil, members.count >= 16 {
            var built: [String: Int] = [:]
            for (position, member) in members.enumerated() { built[member.key] = position }
            index = built
        }
        if let index { return index[key] }
        return members.firstIndex { $0.key == key }
    }

    private mutating func parseArray() throws(JSONSyntaxError) -> [JSONValue] {
        try enterContainer()
        index += 1  // [
        var values: [JSONValue] = []
        skipWhitespace()
        if peek(UInt8(ascii: "]")) {
            index += 1
            depth -= 1
            return values
        }
        while true {
            skipWhitespace()
            values.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw failure("unexpected end of input inside an array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw failure("expected ',' or ']' in an array") }
            index += 1
            depth -= 1
            return values
        }
    }

    private mutating func enterContainer() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= Self.maximumDepth else { throw failure("nested deeper than \(Self.maximumDepth) levels") }
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        let start = index
        index += 1  // opening quote
        // Fast path: no escapes, so the bytes between the quotes are the string.
        var scan = index
        while scan < bytes.count {
            let byte = bytes[scan]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[index..<scan])
                guard let string = String(validating: slice, as: UTF8.self) else {
                    throw JSONSyntaxError(offset: start, reason: "the string is not valid UTF-8")
                }
                index = scan + 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw JSONSyntaxError(offset: scan, reason: "control character \(describe(byte)) inside a string") }
            scan += 1
        }
        guard scan < bytes.count else { throw JSONSyntaxError(offset: start, reason: "unterminated string") }
        return try parseEscapedString(from: start)
    }

    private mutating func parseEscapedString(from start: Int) throws(JSONSyntaxError) -> String {
        var decoded: [UInt8] = []
        while true {
            guard index < bytes.count else { throw JSONSyntaxError(offset: start, reason: "unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                guard let string = String(validating: decoded, as: UTF8.self) else {
                    throw JSONSyntaxError(offset: start, reason: "the string is not valid UTF-8")
                }
                return string
            }
            if byte < 0x20 { throw failure("control character \(describe(byte)) inside a string") }
            guard byte == UInt8(ascii: "\\") else {
                decoded.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw JSONSyntaxError(offset: start, reason: "unterminated string") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0c)
            case UInt8(ascii: "n"): decoded.append(0x0a)
            case UInt8(ascii: "r"): decoded.append(0x0d)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "u"): try appendUnicodeEscape(to: &decoded)
            default: throw JSONSyntaxError(offset: index - 2, reason: "unknown escape \\\(describe(escape))")
            }
        }
    }

    /// Decodes `XXXX` after `\u`, joining a surrogate pair into one scalar.
    private mutating func appendUnicodeEscape(to decoded: inout [UInt8]) throws(JSONSyntaxError) {
        let escapeStart = index - 2
        let first = try hexQuad()
        var scalarValue = first
        if (0xD800...0xDBFF).contains(first) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw JSONSyntaxError(offset: escapeStart, reason: "a high surrogate \\u escape without its low half")
            }
            index += 2
            let second = try hexQuad()
            guard (0xDC00...0xDFFF).contains(second) else {
                throw JSONSyntaxError(offset: escapeStart, reason: "a high surrogate \\u escape without its low half")
            }
            scalarValue = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(first) {
            throw JSONSyntaxError(offset: escapeStart, reason: "a lone low surrogate \\u escape")
        }
        guard let scalar = Unicode.Scalar(scalarValue) else {
            throw JSONSyntaxError(offset: escapeStart, reason: "an invalid \\u escape")
        }
        decoded.append(contentsOf: String(Character(scalar)).utf8)
    }

    private mutating func hexQuad() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("a \\u escape needs four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("a \\u escape needs four hex digits")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSONNumber {
        guard let length = JSONNumber.grammarLength(of: bytes, from: index) else { throw failure("malformed number") }
        let slice = UnsafeBufferPointer(rebasing: bytes[index..<(index + length)])
        index += length
        return JSONNumber(validatedLiteral: String(decoding: slice, as: UTF8.self))
    }

    private mutating func expectWord(_ word: StaticString) throws(JSONSyntaxError) {
        let length = word.utf8CodeUnitCount
        guard index + length <= bytes.count else { throw failure("unexpected end of input, expected '\(word)'") }
        for offset in 0..<length where bytes[index + offset] != word.utf8Start[offset] {
            throw failure("unexpected character, expected '\(word)'")
        }
        index += length
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }

    private func peek(_ byte: UInt8) -> Bool { index < bytes.count && bytes[index] == byte }

    private func failure(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: index, reason: reason) }

    private func describe(_ byte: UInt8) -> String {
        (0x21...0x7e).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "0x" + String(byte, radix: 16)
    }
}
