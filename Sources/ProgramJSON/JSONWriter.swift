/// Writes JSON without whitespace, either as given or in canonical form.
///
/// Canonical form: object keys sorted by their UTF-8 bytes, numbers in
/// `JSONNumber.canonical` spelling, strings with only `"`, `\` and control characters
/// escaped (`\b \f \n \r \t`, else `\u00xx`), everything else as raw UTF-8. The same value
/// always gives the same bytes, which is what the program checksum hashes.
public struct JSONWriter: ~Copyable {
    public enum Style: Sendable {
        /// Members in document order, numbers as written.
        case compact
        /// Sorted keys and canonical numbers.
        case canonical
    }

    @usableFromInline package var buffer: ByteBuffer
    @usableFromInline package let style: Style
    /// Whether short ASCII strings can be read as two words (`SmallASCIIString`).
    @usableFromInline package let readsSmallStrings = SmallASCIIString.layoutHolds

    public init(style: Style, reservingCapacity capacity: Int = 1024) {
        self.style = style
        buffer = ByteBuffer(capacity: capacity)
    }

    /// What was written so far.
    public var bytes: [UInt8] { buffer.bytes }

    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: buffer.append("null")
        case .bool(let flag): buffer.append(flag ? "true" : "false")
        case .number(let number): writeNumber(number)
        case .string(let string): writeString(string)
        case .array(let values):
            buffer.append(UInt8(ascii: "["))
            for (position, element) in values.enumerated() {
                if position > 0 { buffer.append(UInt8(ascii: ",")) }
                write(element)
            }
            buffer.append(UInt8(ascii: "]"))
        case .object(let object):
            buffer.append(UInt8(ascii: "{"))
            var first = true
            for member in orderedMembers(object) {
                if !first { buffer.append(UInt8(ascii: ",")) }
                first = false
                writeMember(member.key, member.value)
            }
            buffer.append(UInt8(ascii: "}"))
        }
    }

    /// Members in the style's order: as given, or sorted by key bytes.
    @inlinable package func orderedMembers(_ object: JSONObject) -> [(key: String, value: JSONValue)] {
        guard style == .canonical, object.members.count > 1 else { return object.members }
        return object.members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    /// A key and its value, without the separator before them.
    @inlinable package mutating func writeMember(_ key: String, _ value: JSONValue) {
        writeString(key)
        buffer.append(UInt8(ascii: ":"))
        write(value)
    }

    /// An integer, canonical in both styles.
    @inline(__always)
    @inlinable package mutating func writeInteger(_ value: Int) {
        if value >= 0, value < 10 {
            buffer.append(UInt8(ascii: "0") + UInt8(value))
        } else if value >= 10, value < 100 {  // most reps and sets
            buffer.append(UInt8(ascii: "0") + UInt8(value / 10))
            buffer.append(UInt8(ascii: "0") + UInt8(value % 10))
        } else if value >= 100, value < 1000 {  // longer rests
            buffer.append(UInt8(ascii: "0") + UInt8(value / 100))
            buffer.append(UInt8(ascii: "0") + UInt8(value / 10 % 10))
            buffer.append(UInt8(ascii: "0") + UInt8(value % 10))
        } else {
            buffer.appendDecimal(value)
        }
    }

    @inlinable package mutating func writeNumber(_ number: JSONNumber) {
        // Written from the literal's own bytes when they already are the canonical
        // spelling (almost every weight), without building another string.
        let written = number.literal.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard style == .compact || JSONNumber.isCanonicalSpelling(bytes) else { return false }
            buffer.append(bytes)
            return true
        }
        if written == true { return }
        writeRaw(style == .compact ? number.literal : number.canonical)
    }

    @inlinable package mutating func writeRaw(_ text: String) {
        if let done: Void = text.utf8.withContiguousStorageIfAvailable({ buffer.append($0) }) { return done }
        Array(text.utf8).withUnsafeBufferPointer { buffer.append($0) }
    }

    @inline(__always)
    @inlinable package mutating func writeString(_ string: String) {
        // A short ASCII string without bytes to escape (most names and ids): straight from
        // the string's own two words.
        if readsSmallStrings, let small = SmallASCIIString.words(of: string),
            (StringSpecialBytes.flags(small.low) & SmallASCIIString.mask(keeping: small.count)
                | StringSpecialBytes.flags(small.high) & SmallASCIIString.mask(keeping: small.count - 8)) == 0
        {
            buffer.appendQuoted(low: small.low, high: small.high, count: small.count)
            return
        }
        if let done: Void = string.utf8.withContiguousStorageIfAvailable({ writeStringBytes($0) }) { return done }
        Array(string.utf8).withUnsafeBufferPointer { writeStringBytes($0) }
    }

    /// The string's bytes between quotes, jumping from one byte that needs escaping to the
    /// next (most strings have none and are copied whole).
    @inlinable package mutating func writeStringBytes(_ utf8: UnsafeBufferPointer<UInt8>) {
        buffer.append(UInt8(ascii: "\""))
        var clean = 0  // start of the bytes not yet copied
        var position = StringSpecialBytes.first(in: utf8, from: 0)
        while position < utf8.count {
            buffer.append(UnsafeBufferPointer(rebasing: utf8[clean..<position]))
            let byte = utf8[position]
            switch byte {
            case UInt8(ascii: "\""): buffer.append("\\\"")
            case UInt8(ascii: "\\"): buffer.append("\\\\")
            case 0x08: buffer.append("\\b")
            case 0x0c: buffer.append("\\f")
            case 0x0a: buffer.append("\\n")
            case 0x0d: buffer.append("\\r")
            case 0x09: buffer.append("\\t")
            default:
                buffer.append("\\u00")
                buffer.append(Self.hexDigits[Int(byte >> 4)])
                buffer.append(Self.hexDigits[Int(byte & 0x0f)])
            }
            clean = position + 1
            position = StringSpecialBytes.first(in: utf8, from: clean)
        }
        buffer.append(UnsafeBufferPointer(rebasing: utf8[clean...]))
        buffer.append(UInt8(ascii: "\""))
    }

    @usableFromInline package static let hexDigits = Array("0123456789abcdef".utf8)
}

extension JSONValue {
    /// The value as compact JSON text, members in document order.
    public var jsonText: String {
        var writer = JSONWriter(style: .compact)
        writer.write(self)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// The canonical bytes (see `JSONWriter`).
    public var canonicalBytes: [UInt8] {
        var writer = JSONWriter(style: .canonical)
        writer.write(self)
        return writer.bytes
    }
}
