/// Why some bytes are not JSON, and where.
public struct JSONSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Byte offset of the problem in the input.
    public var offset: Int
    public var reason: String

    @inlinable package init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

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

    @inlinable package static func parseResult(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, JSONSyntaxError> {
        var parser = JSONParser(buffer)
        return Result { () throws(JSONSyntaxError) in try parser.parseDocument() }
    }
}

/// A recursive-descent parser over a byte buffer.
@usableFromInline package struct JSONParser {
    /// Deeper documents are refused: the parser recurses, and no program nests beyond 10.
    @usableFromInline package static let maximumDepth = 128

    @usableFromInline package let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline package var index = 0
    @usableFromInline package var depth = 0
    /// Whether short ASCII strings can be made directly (`SmallASCIIString`).
    @usableFromInline package let makesSmallStrings = SmallASCIIString.layoutHolds

    @inlinable package init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    @inlinable package mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected data after the JSON value") }
        return value
    }

    @inlinable package mutating func parseValue() throws(JSONSyntaxError) -> JSONValue {
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

    @inlinable package mutating func parseObject() throws(JSONSyntaxError) -> JSONObject {
        try beginContainer()
        var members: [(key: String, value: JSONValue)] = []
        var positions: [String: Int]?  // built only for large objects, to find repeated keys fast
        var first = true
        while let rawKey = try nextKey(first: &first) {
            let key = try rawKey.string()
            let value = try parseValue()
            if let existing = position(of: key, in: members, index: &positions) {
                members[existing].value = value
            } else {
                members.append((key: key, value: value))
                positions?[key] = members.count - 1
            }
        }
        return JSONObject(members)
    }

    @inlinable package func position(of key: String, in members: [(key: String, value: JSONValue)], index: inout [String: Int]?) -> Int? {
        if index == nil, members.count >= 16 {
            var built: [String: Int] = [:]
            for (position, member) in members.enumerated() { built[member.key] = position }
            index = built
        }
        if let index { return index[key] }
        return members.firstIndex { $0.key == key }
    }

    @inlinable package mutating func parseArray() throws(JSONSyntaxError) -> [JSONValue] {
        try beginContainer()
        var values: [JSONValue] = []
        var first = true
        while try nextElement(first: &first) {
            values.append(try parseValue())
        }
        return values
    }

    // MARK: Streaming: walk a document without building values for what is not needed.

    /// What the value at the cursor is, by its first byte (after whitespace).
    @usableFromInline package enum ValueKind {
        case object, array, string, number, bool, null, invalid

        @inlinable package var typeName: String {
            switch self {
            case .object: "an object"
            case .array: "an array"
            case .string: "a string"
            case .number: "a number"
            case .bool: "a boolean"
            case .null: "null"
            case .invalid: "invalid JSON"
            }
        }
    }

    @inline(__always)
    @inlinable package mutating func peekKind() -> ValueKind {
        skipWhitespace()
        guard index < bytes.count else { return .invalid }
        switch bytes[index] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: return .invalid
        }
    }

    /// Consumes the `{` or `[` at the cursor.
    @inlinable package mutating func beginContainer() throws(JSONSyntaxError) {
        try enterContainer()
        index += 1
    }

    /// A member name as it appears in the input, quotes included; decoded only on demand.
    @usableFromInline package struct Key {
        /// The key's bytes from its opening to its closing quote.
        @usableFromInline package var quoted: UnsafeBufferPointer<UInt8>
        /// It contains a `\` escape, so its bytes are not its text.
        @usableFromInline package var escaped: Bool
        @usableFromInline package var offset: Int

        @inlinable package init(quoted: UnsafeBufferPointer<UInt8>, escaped: Bool, offset: Int) {
            (self.quoted, self.escaped, self.offset) = (quoted, escaped, offset)
        }

        /// True when the key is exactly `other`, given with its quotes (`"sets"`) and
        /// without escapes.
        @inline(__always)
        @inlinable package func `is`(_ other: UnsafeBufferPointer<UInt8>) -> Bool {
            if escaped {
                return (try? string()) == String(decoding: UnsafeBufferPointer(rebasing: other.dropFirst().dropLast()), as: UTF8.self)
            }
            return quoted.count == other.count && JSONParser.bytes(at: quoted.baseAddress!, equal: other)
        }

        @inlinable package func string() throws(JSONSyntaxError) -> String {
            var parser = JSONParser(quoted)
            do {
                return try parser.parseString()
            } catch {
                throw JSONSyntaxError(offset: offset + error.offset, reason: error.reason)
            }
        }
    }

    /// Moves past the `,` or the `{` before the next member and returns its key, leaving
    /// the cursor on its value; at `}` consumes it and returns nil.
    @inlinable package mutating func nextKey(first: inout Bool) throws(JSONSyntaxError) -> Key? {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of input inside an object") }
        // A `}` right after a `,` never gets here: the `,` branch below demands a key.
        if bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return nil
        }
        if !first {
            guard bytes[index] == UInt8(ascii: ",") else { throw failure("expected ',' or '}' in an object") }
            index += 1
            skipWhitespace()
        }
        first = false
        guard peek(UInt8(ascii: "\"")) else { throw failure("expected a string key") }
        let key = try keyAtCursor()
        skipWhitespace()
        guard peek(UInt8(ascii: ":")) else { throw failure("expected ':' after a key") }
        index += 1
        skipWhitespace()
        return key
    }

    @inlinable package mutating func keyAtCursor() throws(JSONSyntaxError) -> Key {
        let start = index
        let scan = StringSpecialBytes.first(in: bytes, from: index + 1)
        if scan < bytes.count, bytes[scan] == UInt8(ascii: "\"") {
            index = scan + 1
            return Key(quoted: UnsafeBufferPointer(rebasing: bytes[start..<index]), escaped: false, offset: start)
        }
        _ = try parseString()  // checks the escapes and finds the end
        return Key(quoted: UnsafeBufferPointer(rebasing: bytes[start..<index]), escaped: true, offset: start)
    }

    /// Takes the next member's key when it is exactly `quoted` (a key without escapes,
    /// quotes included): moves past the `,` before it (unless it is the first), the key and
    /// the `:` and returns true; else leaves the cursor where it was and returns false.
    /// Confirms a guessed key with one comparison instead of scanning for the key's end.
    @inline(__always)
    @inlinable package mutating func takeKey(_ quoted: UnsafeBufferPointer<UInt8>, first: inout Bool) -> Bool {
        var position = skippingWhitespace(from: index)
        if !first {
            guard position < bytes.count, bytes[position] == UInt8(ascii: ",") else { return false }
            position = skippingWhitespace(from: position + 1)
        }
        guard position + quoted.count <= bytes.count, Self.bytes(at: bytes.baseAddress! + position, equal: quoted) else { return false }
        position = skippingWhitespace(from: position + quoted.count)
        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return false }
        index = skippingWhitespace(from: position + 1)
        first = false
        return true
    }

    /// Whether the `expected.count` bytes at `start` are `expected`: two overlapping word
    /// comparisons for keys of 4 to 16 bytes.
    @inline(__always)
    @inlinable package static func bytes(at start: UnsafePointer<UInt8>, equal expected: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = expected.count
        let lhs = UnsafeRawPointer(start), rhs = UnsafeRawPointer(expected.baseAddress!)
        if count >= 8, count <= 16 {
            return lhs.loadUnaligned(as: UInt64.self) == rhs.loadUnaligned(as: UInt64.self)
                && lhs.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == rhs.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        }
        if count >= 4, count < 8 {
            return lhs.loadUnaligned(as: UInt32.self) == rhs.loadUnaligned(as: UInt32.self)
                && lhs.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self) == rhs.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
        }
        for position in 0..<count where start[position] != expected[position] { return false }
        return true
    }

    /// Moves past the `,` or the `[` before the next element and returns true, leaving the
    /// cursor on it; at `]` consumes it and returns false.
    @inlinable package mutating func nextElement(first: inout Bool) throws(JSONSyntaxError) -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of input inside an array") }
        if bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return false
        }
        if !first {
            guard bytes[index] == UInt8(ascii: ",") else { throw failure("expected ',' or ']' in an array") }
            index += 1
            skipWhitespace()
        }
        first = false
        return true
    }

    @inlinable package mutating func enterContainer() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= Self.maximumDepth else { throw failure("nested deeper than \(Self.maximumDepth) levels") }
    }

    @inlinable package mutating func parseString() throws(JSONSyntaxError) -> String {
        let start = index
        index += 1  // opening quote
        // Fast path: no escapes, so the bytes between the quotes are the string.
        var scan = StringSpecialBytes.first(in: bytes, from: index)
        while scan < bytes.count {
            let byte = bytes[scan]
            if byte == UInt8(ascii: "\"") {
                let base = bytes.baseAddress.unsafelyUnwrapped + index
                if makesSmallStrings, let string = SmallASCIIString.make(base, count: scan - index, readable: bytes.count - index) {
                    index = scan + 1
                    return string
                }
                let slice = UnsafeBufferPointer(rebasing: bytes[index..<scan])
                guard let string = UTF8Validation.string(slice) else {
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

    @inlinable package mutating func parseEscapedString(from start: Int) throws(JSONSyntaxError) -> String {
        var decoded: [UInt8] = []
        while true {
            guard index < bytes.count else { throw JSONSyntaxError(offset: start, reason: "unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                guard let string = decoded.withUnsafeBufferPointer({ UTF8Validation.string($0) }) else {
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
    @inlinable package mutating func appendUnicodeEscape(to decoded: inout [UInt8]) throws(JSONSyntaxError) {
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

    @inlinable package mutating func hexQuad() throws(JSONSyntaxError) -> UInt32 {
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

    @inlinable package mutating func parseNumber() throws(JSONSyntaxError) -> JSONNumber {
        let literal = try numberBytes()  // ASCII by grammar
        if makesSmallStrings, let base = literal.baseAddress,
            let string = SmallASCIIString.make(base, count: literal.count, readable: bytes.count - (index - literal.count))
        {
            return JSONNumber(validatedLiteral: string)
        }
        return JSONNumber(validatedLiteral: String(decoding: literal, as: UTF8.self))
    }

    /// Reads a plain integer literal (`-?(0|[1-9][0-9]{0,17})` followed by no fraction or
    /// exponent) at the cursor in one pass and moves past it; nil, with the cursor left
    /// where it was, for any other number.
    @inline(__always)
    @inlinable package mutating func plainInteger() -> Int? {
        var position = index
        let negative = position < bytes.count && bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        let first = position
        var value = 0
        while position < bytes.count {
            let digit = bytes[position] &- UInt8(ascii: "0")
            guard digit <= 9 else { break }
            value = value &* 10 &+ Int(digit)
            position += 1
        }
        let digits = position - first
        guard digits >= 1, digits <= 18, digits == 1 || bytes[first] != UInt8(ascii: "0") else { return nil }
        if position < bytes.count {
            let next = bytes[position]
            guard next != UInt8(ascii: "."), next != UInt8(ascii: "e"), next != UInt8(ascii: "E") else { return nil }
        }
        index = position
        return negative ? -value : value
    }

    /// The bytes of the number literal at the cursor, which moves past it.
    @inlinable package mutating func numberBytes() throws(JSONSyntaxError) -> UnsafeBufferPointer<UInt8> {
        guard let length = JSONNumber.grammarLength(of: bytes, from: index) else { throw failure("malformed number") }
        let slice = UnsafeBufferPointer(rebasing: bytes[index..<(index + length)])
        index += length
        return slice
    }

    @inlinable package mutating func expectWord(_ word: StaticString) throws(JSONSyntaxError) {
        let length = word.utf8CodeUnitCount
        guard index + length <= bytes.count else { throw failure("unexpected end of input, expected '\(word)'") }
        for offset in 0..<length where bytes[index + offset] != word.utf8Start[offset] {
            throw failure("unexpected character, expected '\(word)'")
        }
        index += length
    }

    @inline(__always)
    @inlinable package mutating func skipWhitespace() {
        index = skippingWhitespace(from: index)
    }

    @inline(__always)
    @inlinable package func skippingWhitespace(from start: Int) -> Int {
        var position = start
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): position += 1
            default: return position
            }
        }
        return position
    }

    @inlinable package func peek(_ byte: UInt8) -> Bool { index < bytes.count && bytes[index] == byte }

    @inlinable package func failure(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: index, reason: reason) }

    @inlinable package func describe(_ byte: UInt8) -> String {
        (0x21...0x7e).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "0x" + String(byte, radix: 16)
    }
}
