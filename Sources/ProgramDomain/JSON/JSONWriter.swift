/// Writes JSON without whitespace, either as given or in canonical form.
///
/// Canonical form: object keys sorted by their UTF-8 bytes, numbers in
/// `JSONNumber.canonical` spelling, strings with only `"`, `\` and control characters
/// escaped (`\b \f \n \r \t`, else `\u00xx`), everything else as raw UTF-8. The same value
/// always gives the same bytes, which is what the program checksum hashes.
public struct JSONWriter {
    public enum Style: Sendable {
        /// Members in document order, numbers as written.
        case compact
        /// Sorted keys and canonical numbers.
        case canonical
    }

    public internal(set) var bytes: [UInt8] = []
    let style: Style

    public init(style: Style, reservingCapacity capacity: Int = 1024) {
        self.style = style
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let flag): append(flag ? "true" : "false")
        case .number(let number): writeNumber(number)
        case .string(let string): writeString(string)
        case .array(let values):
            bytes.append(UInt8(ascii: "["))
            for (position, element) in values.enumerated() {
                if position > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for member in orderedMembers(object) {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                writeString(member.key)
                bytes.append(UInt8(ascii: ":"))
                write(member.value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private func orderedMembers(_ object: JSONObject) -> [(key: String, value: JSONValue)] {
        guard style == .canonical, object.members.count > 1 else { return object.members }
        return object.members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    /// A key and its value, without the separator before them.
    mutating func writeMember(_ key: String, _ value: JSONValue) {
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
        write(value)
    }

    /// An integer, canonical in both styles.
    mutating func writeInteger(_ value: Int) {
        if value >= 0, value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
        } else {
            append(String(value))
        }
    }

    private mutating func writeNumber(_ number: JSONNumber) {
        switch style {
        case .compact: append(number.literal)
        case .canonical: append(number.canonical)
        }
    }

    mutating func writeString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings need no escape: copy them whole.
        if !string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: string.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x08: append("\\b")
            case 0x0c: append("\\f")
            case 0x0a: append("\\n")
            case 0x0d: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20:
                append("\\u00")
                bytes.append(Self.hexDigits[Int(byte >> 4)])
                bytes.append(Self.hexDigits[Int(byte & 0x0f)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }
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
