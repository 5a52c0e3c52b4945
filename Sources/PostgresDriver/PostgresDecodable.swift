import Foundation

/// A Swift type that can be read from a result column (binary format).
public protocol PostgresDecodable {
    /// Decodes `cell`, throwing a `.decoding` error for NULL or an incompatible type.
    static func decode(from cell: PostgresCell) throws(PostgresError) -> Self
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Wrapped? {
        guard cell.bytes != nil else { return nil }
        return try Wrapped.decode(from: cell)
    }
}

extension PostgresCell {
    /// The bytes, or a decoding error for NULL.
    func required<T>(_ type: T.Type) throws(PostgresError) -> UnsafeRawBufferPointer {
        guard let bytes else { throw unexpectedNull(type) }
        return bytes
    }

    /// Reads any integer column (int2, int4, int8, oid) as Int64.
    func integer<T>(_ type: T.Type) throws(PostgresError) -> Int64 {
        let bytes = try required(type)
        switch (typeOID, bytes.count) {
        case (PostgresType.int2, 2): return Int64(Int16(bigEndian: bytes.loadUnaligned(as: Int16.self)))
        case (PostgresType.int4, 4): return Int64(Int32(bigEndian: bytes.loadUnaligned(as: Int32.self)))
        case (PostgresType.oid, 4): return Int64(UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self)))
        case (PostgresType.int8, 8): return Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
        default: throw mismatch(type)
        }
    }
}

extension Int64: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Int64 {
        try cell.integer(Self.self)
    }
}

extension Int: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Int {
        Int(try cell.integer(Self.self))
    }
}

extension Int32: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Int32 {
        let value = try cell.integer(Self.self)
        guard let narrowed = Int32(exactly: value) else { throw cell.mismatch(Self.self, "\(value) is out of range") }
        return narrowed
    }
}

extension Bool: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Bool {
        let bytes = try cell.required(Self.self)
        guard cell.typeOID == PostgresType.bool, bytes.count == 1 else { throw cell.mismatch(Self.self) }
        return bytes[0] != 0
    }
}

extension Double: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Double {
        let bytes = try cell.required(Self.self)
        switch (cell.typeOID, bytes.count) {
        case (PostgresType.float8, 8): return Double(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)))
        case (PostgresType.float4, 4): return Double(Float(bitPattern: UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self))))
        case (PostgresType.numeric, _):
            guard let value = Double(try NumericText.decode(bytes)) else { throw cell.mismatch(Self.self) }
            return value
        default: return Double(try cell.integer(Self.self))
        }
    }
}

extension Decimal: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Decimal {
        let bytes = try cell.required(Self.self)
        if cell.typeOID == PostgresType.numeric {
            let text = try NumericText.decode(bytes)
            guard let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
                throw cell.mismatch(Self.self, "\(text) is not a finite number")
            }
            return value
        }
        return Decimal(try cell.integer(Self.self))
    }
}

extension String: PostgresDecodable {
    /// Text-like columns as they are; numbers, booleans, uuids and JSON as their text.
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> String {
        let bytes = try cell.required(Self.self)
        switch cell.typeOID {
        case PostgresType.text, PostgresType.varchar, PostgresType.bpchar, PostgresType.name,
             PostgresType.unknown, PostgresType.json, PostgresType.char:
            return String(decoding: bytes, as: UTF8.self)
        case PostgresType.jsonb:
            return try PostgresJSONB.decode(from: cell).text
        case PostgresType.numeric:
            return try NumericText.decode(bytes)
        case PostgresType.int2, PostgresType.int4, PostgresType.int8, PostgresType.oid:
            return String(try cell.integer(Self.self))
        case PostgresType.bool:
            return try Bool.decode(from: cell) ? "true" : "false"
        case PostgresType.uuid:
            return try UUID.decode(from: cell).uuidString.lowercased()
        case PostgresType.float4, PostgresType.float8:
            return String(try Double.decode(from: cell))
        default:
            // Enums and domains over text arrive as their text in binary format too.
            guard let text = String(validating: bytes, as: UTF8.self) else { throw cell.mismatch(Self.self) }
            return text
        }
    }
}

extension UUID: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> UUID {
        let b = try cell.required(Self.self)
        guard cell.typeOID == PostgresType.uuid, b.count == 16 else { throw cell.mismatch(Self.self) }
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

extension Date: PostgresDecodable {
    /// timestamptz, timestamp (taken as UTC) and date (midnight UTC).
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Date {
        let bytes = try cell.required(Self.self)
        switch (cell.typeOID, bytes.count) {
        case (PostgresType.timestamptz, 8), (PostgresType.timestamp, 8):
            let micros = Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
            guard micros != .max, micros != .min else { throw cell.mismatch(Self.self, "infinity has no Date") }
            return Date(timeIntervalSince1970: Double(micros) / 1_000_000 + PostgresEpoch.unixOffset)
        case (PostgresType.date, 4):
            let days = Int32(bigEndian: bytes.loadUnaligned(as: Int32.self))
            guard days != .max, days != .min else { throw cell.mismatch(Self.self, "infinity has no Date") }
            return Date(timeIntervalSince1970: Double(days) * 86_400 + PostgresEpoch.unixOffset)
        default:
            throw cell.mismatch(Self.self)
        }
    }
}

extension Data: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> Data {
        let bytes = try cell.required(Self.self)
        guard cell.typeOID == PostgresType.bytea else { throw cell.mismatch(Self.self) }
        return Data(bytes)
    }
}

/// PostgreSQL's binary `numeric` (base-10000 digits) turned into exact decimal text.
enum NumericText {
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(PostgresError) -> String {
        guard bytes.count >= 8 else { throw PostgresError(code: .decoding, message: "numeric value is too short") }
        func int16(at offset: Int) -> Int {
            Int(Int16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
        }
        let digitCount = int16(at: 0)
        let weight = int16(at: 2)
        let sign = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        let scale = int16(at: 6)
        guard bytes.count >= 8 + 2 * digitCount else {
            throw PostgresError(code: .decoding, message: "numeric value is truncated")
        }
        switch sign {
        case 0xC000: return "NaN"
        case 0xD000: return "Infinity"
        case 0xF000: return "-Infinity"
        default: break
        }
        func digit(_ index: Int) -> Int { index >= 0 && index < digitCount ? int16(at: 8 + 2 * index) : 0 }

        var text = sign == 0x4000 ? "-" : ""
        if weight < 0 {
            text += "0"
        } else {
            text += String(digit(0))
            for index in stride(from: 1, through: weight, by: 1) { text += fourDigits(digit(index)) }
        }
        if scale > 0 {
            var fraction = ""
            var index = weight + 1
            while fraction.count < scale {
                fraction += fourDigits(digit(index))
                index += 1
            }
            text += "." + fraction.prefix(scale)
        }
        return text
    }

    private static func fourDigits(_ value: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// A one-dimensional array (an empty one too) of a decodable element type, in the
    /// binary array format: dimensions, flags and element type, then each element's
    /// length (-1 for NULL) and bytes.
    public static func decode(from cell: PostgresCell) throws(PostgresError) -> [Element] {
        let bytes = try cell.required(Self.self)
        func int32(at offset: Int) throws(PostgresError) -> Int32 {
            guard offset + 4 <= bytes.count else { throw cell.mismatch(Self.self, "the array value is truncated") }
            return Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
        }
        let dimensions = try int32(at: 0)
        guard dimensions <= 1 else { throw cell.mismatch(Self.self, "only one-dimensional arrays are read") }
        guard dimensions == 1 else { return [] }
        let elementType = UInt32(bitPattern: try int32(at: 8))
        let count = Int(try int32(at: 12))
        var offset = 20
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            let length = Int(try int32(at: offset))
            offset += 4
            guard length <= bytes.count - offset else { throw cell.mismatch(Self.self, "the array value is truncated") }
            let element = length < 0 ? nil : UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
            elements.append(try Element.decode(from: PostgresCell(
                bytes: element, typeOID: elementType, column: cell.column, result: cell.result)))
            offset += Swift.max(0, length)
        }
        return elements
    }
}
