import Foundation

/// A Swift type that can be read from a result column (binary format).
public protocol PGDecodable {
    /// Decodes `cell`, throwing a `.decoding` error for NULL or an incompatible type.
    static func decode(from cell: PGCell) throws(PGError) -> Self
}

extension Optional: PGDecodable where Wrapped: PGDecodable {
    public static func decode(from cell: PGCell) throws(PGError) -> Wrapped? {
        guard cell.bytes != nil else { return nil }
        return try Wrapped.decode(from: cell)
    }
}

extension PGCell {
    /// The bytes, or a decoding error for NULL.
    func required<T>(_ type: T.Type) throws(PGError) -> UnsafeRawBufferPointer {
        guard let bytes else { throw unexpectedNull(type) }
        return bytes
    }

    /// Reads any integer column (int2, int4, int8, oid) as Int64.
    func integer<T>(_ type: T.Type) throws(PGError) -> Int64 {
        let bytes = try required(type)
        switch (typeOID, bytes.count) {
        case (PGType.int2, 2): return Int64(Int16(bigEndian: bytes.loadUnaligned(as: Int16.self)))
        case (PGType.int4, 4): return Int64(Int32(bigEndian: bytes.loadUnaligned(as: Int32.self)))
        case (PGType.oid, 4): return Int64(UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self)))
        case (PGType.int8, 8): return Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
        default: throw mismatch(type)
        }
    }
}

extension Int64: PGDecodable {
    public static func decode(from cell: PGCell) throws(PGError) -> Int64 {
        try cell.integer(Self.self)
    }
}

extension Int: PGDecodable {
    public static func decode(from cell: PGCell) throws(PGError) -> Int {
        Int(try cell.integer(Self.self))
    }
}

extension Int32: PGDecodable {
    public static func decode(from cell: PGCell) throws(PGError) -> Int32 {
        let value = try cell.integer(Self.self)
        guard let narrowed = Int32(exactly: value) else { throw cell.mismatch(Self.self, "\(value) is out of range") }
        return narrowed
    }
}

extension Bool: PGDecodable {
    public static func decode(from cell: PGCell) throws(PGError) -> Bool {
        let bytes = try cell.required(Self.self)
        guard cell.typeOID == PGType.bool, bytes.count == 1 else { throw cell.mismatch(Self.self) }
        return bytes[0] != 0
    }
}

extension Double: PGDecodable {
    public static func decode(from cell: PGCell) throws(PGError) -> Double {
        let bytes = try cell.required(Self.self)
        switch (cell.typeOID, bytes.count) {
        case (PGType.float8, 8): return Double(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)))
        case (PGType.float4, 4): return Double(Float(bitPattern: UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self))))
        case (PGType.numeric, _):
            guard let value = Double(try NumericText.decode(bytes)) else { throw cell.mismatch(Self.self) }
            return value
        default: return Double(try cell.integer(Self.self))
        }
    }
}

extension Decimal: PGDecodable {
    public static func decode(from cell: PGCell) throws(PGError) -> Decimal {
        let bytes = try cell.required(Self.self)
        if cell.typeOID == PGType.numeric {
            let text = try NumericText.decode(bytes)
            guard let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
                throw cell.mismatch(Self.self, "\(text) is not a finite number")
            }
            return value
        }
        return Decimal(try cell.integer(Self.self))
    }
}

extension String: PGDecodable {
    /// Text-like columns as they are; numbers, booleans, uuids and JSON as their text.
    public static func decode(from cell: PGCell) throws(PGError) -> String {
        let bytes = try cell.required(Self.self)
        switch cell.typeOID {
        case PGType.text, PGType.varchar, PGType.bpchar, PGType.name,
             PGType.unknown, PGType.json, PGType.char:
            return String(decoding: bytes, as: UTF8.self)
        case PGType.jsonb:
            return try PGJSONB.decode(from: cell).text
        case PGType.numeric:
            return try NumericText.decode(bytes)
        case PGType.int2, PGType.int4, PGType.int8, PGType.oid:
            return String(try cell.integer(Self.self))
        case PGType.bool:
            return try Bool.decode(from: cell) ? "true" : "false"
        case PGType.uuid:
            return try UUID.decode(from: cell).uuidString.lowercased()
        case PGType.float4, PGType.float8:
            return String(try Double.decode(from: cell))
        default:
            // Enums and domains over text arrive as their text in binary format too.
            guard let text = String(validating: bytes, as: UTF8.self) else { throw cell.mismatch(Self.self) }
            return text
        }
    }
}

extension UUID: PGDecodable {
    public static func decode(from cell: PGCell) throws(PGError) -> UUID {
        let b = try cell.required(Self.self)
        guard cell.typeOID == PGType.uuid, b.count == 16 else { throw cell.mismatch(Self.self) }
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

extension Date: PGDecodable {
    /// timestamptz, timestamp (taken as UTC) and date (midnight UTC).
    public static func decode(from cell: PGCell) throws(PGError) -> Date {
        let bytes = try cell.required(Self.self)
        switch (cell.typeOID, bytes.count) {
        case (PGType.timestamptz, 8), (PGType.timestamp, 8):
            let micros = Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
            guard micros != .max, micros != .min else { throw cell.mismatch(Self.self, "infinity has no Date") }
            return Date(timeIntervalSince1970: Double(micros) / 1_000_000 + PGEpoch.unixOffset)
        case (PGType.date, 4):
            let days = Int32(bigEndian: bytes.loadUnaligned(as: Int32.self))
            guard days != .max, days != .min else { throw cell.mismatch(Self.self, "infinity has no Date") }
            return Date(timeIntervalSince1970: Double(days) * 86_400 + PGEpoch.unixOffset)
        default:
            throw cell.mismatch(Self.self)
        }
    }
}

extension Data: PGDecodable {
    public static func decode(from cell: PGCell) throws(PGError) -> Data {
        let bytes = try cell.required(Self.self)
        guard cell.typeOID == PGType.bytea else { throw cell.mismatch(Self.self) }
        return Data(bytes)
    }
}

/// PostgreSQL's binary `numeric` (base-10000 digits) turned into exact decimal text.
enum NumericText {
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(PGError) -> String {
        guard bytes.count >= 8 else { throw PGError(code: .decoding, message: "numeric value is too short") }
        func int16(at offset: Int) -> Int {
            Int(Int16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
        }
        let digitCount = int16(at: 0)
        let weight = int16(at: 2)
        let sign = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        let scale = int16(at: 6)
        guard bytes.count >= 8 + 2 * digitCount else {
            throw PGError(code: .decoding, message: "numeric value is truncated")
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

extension Array: PGDecodable where Element: PGDecodable {
    /// A one-dimensional array (an empty one too) of a decodable element type, in the
    /// binary array format: dimensions, flags and element type, then each element's
    /// length (-1 for NULL) and bytes.
    public static func decode(from cell: PGCell) throws(PGError) -> [Element] {
        let bytes = try cell.required(Self.self)
        func int32(at offset: Int) throws(PGError) -> Int32 {
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
            elements.append(try Element.decode(from: PGCell(
                bytes: element, typeOID: elementType, column: cell.column, result: cell.result)))
            offset += Swift.max(0, length)
        }
        return elements
    }
}

/// A string-backed enum, e.g. of the values a column's CHECK constraint allows, reads from its
/// text; a value the enum does not know is a decoding error that names it.
extension PGDecodable where Self: RawRepresentable, RawValue == String {
    public static func decode(from cell: PGCell) throws(PGError) -> Self {
        let text = try String.decode(from: cell)
        guard let value = Self(rawValue: text) else {
            throw PGError(code: .decoding, message: "\"\(text)\" is not a value of \(Self.self); is the database newer than this program?")
        }
        return value
    }
}
