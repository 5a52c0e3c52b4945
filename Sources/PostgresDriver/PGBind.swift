import Foundation

/// One bind parameter as it goes to libpq: a type OID, a wire format and the bytes.
public struct PGBind: Sendable, Hashable {
    /// The wire format of `bytes`.
    public enum Format: Int32, Sendable {
        case text = 0
        case binary = 1
    }

    /// The parameter's type OID; 0 lets the server infer it.
    public var typeOID: UInt32
    /// The format of `bytes`.
    public var format: Format
    /// The value, or nil for SQL NULL.
    public var bytes: [UInt8]?

    /// Creates a bind.
    public init(typeOID: UInt32, format: Format, bytes: [UInt8]?) {
        self.typeOID = typeOID
        self.format = format
        self.bytes = bytes
    }

    /// SQL NULL of a type the server infers from context.
    public static let null = PGBind(typeOID: 0, format: .binary, bytes: nil)
}

/// Type OIDs the driver uses (from `pg_type`; stable across PostgreSQL versions).
public enum PGType {
    public static let bool: UInt32 = 16
    public static let bytea: UInt32 = 17
    public static let char: UInt32 = 18
    public static let name: UInt32 = 19
    public static let int8: UInt32 = 20
    public static let int2: UInt32 = 21
    public static let int4: UInt32 = 23
    public static let text: UInt32 = 25
    public static let oid: UInt32 = 26
    public static let json: UInt32 = 114
    public static let float4: UInt32 = 700
    public static let float8: UInt32 = 701
    public static let unknown: UInt32 = 705
    public static let bpchar: UInt32 = 1042
    public static let varchar: UInt32 = 1043
    public static let date: UInt32 = 1082
    public static let timestamp: UInt32 = 1114
    public static let timestamptz: UInt32 = 1184
    public static let numeric: UInt32 = 1700
    public static let uuid: UInt32 = 2950
    public static let jsonb: UInt32 = 3802
    public static let int4Array: UInt32 = 1007
    public static let textArray: UInt32 = 1009
    public static let int8Array: UInt32 = 1016
    public static let uuidArray: UInt32 = 2951
}

/// A Swift value that can be sent as a bind parameter.
public protocol PGEncodable: Sendable {
    /// The value as a bind.
    var postgresBind: PGBind { get }
}

extension Int: PGEncodable {
    public var postgresBind: PGBind { Int64(self).postgresBind }
}

extension Int64: PGEncodable {
    public var postgresBind: PGBind {
        PGBind(typeOID: PGType.int8, format: .binary, bytes: bigEndianBytes(self))
    }
}

extension Int32: PGEncodable {
    public var postgresBind: PGBind {
        PGBind(typeOID: PGType.int4, format: .binary, bytes: bigEndianBytes(self))
    }
}

extension Int16: PGEncodable {
    public var postgresBind: PGBind {
        PGBind(typeOID: PGType.int2, format: .binary, bytes: bigEndianBytes(self))
    }
}

extension Bool: PGEncodable {
    public var postgresBind: PGBind {
        PGBind(typeOID: PGType.bool, format: .binary, bytes: [self ? 1 : 0])
    }
}

extension Double: PGEncodable {
    public var postgresBind: PGBind {
        PGBind(typeOID: PGType.float8, format: .binary, bytes: bigEndianBytes(bitPattern))
    }
}

extension String: PGEncodable {
    /// Sent in binary format with an explicit length, so an embedded NUL is refused by the
    /// server instead of silently truncating the value.
    public var postgresBind: PGBind {
        PGBind(typeOID: PGType.text, format: .binary, bytes: Array(utf8))
    }
}

extension Substring: PGEncodable {
    public var postgresBind: PGBind { String(self).postgresBind }
}

extension UUID: PGEncodable {
    public var postgresBind: PGBind {
        let u = uuid
        return PGBind(
            typeOID: PGType.uuid, format: .binary,
            bytes: [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15])
    }
}

extension Date: PGEncodable {
    /// Microseconds since 2000-01-01 UTC, PostgreSQL's binary timestamptz.
    public var postgresBind: PGBind {
        let micros = (timeIntervalSince1970 - PGEpoch.unixOffset) * 1_000_000
        return PGBind(typeOID: PGType.timestamptz, format: .binary, bytes: bigEndianBytes(Int64(micros.rounded())))
    }
}

extension Decimal: PGEncodable {
    public var postgresBind: PGBind {
        PGBind(typeOID: PGType.numeric, format: .text, bytes: Array(description.utf8))
    }
}

/// Raw bytes sent as `bytea`.
extension Data: PGEncodable {
    public var postgresBind: PGBind {
        PGBind(typeOID: PGType.bytea, format: .binary, bytes: Array(self))
    }
}

/// JSON text sent as `jsonb`, e.g. a legacy `program_json` passed through untouched.
public struct PGJSONB: Sendable, Hashable, PGEncodable, PGDecodable {
    /// The UTF-8 JSON text.
    public var bytes: [UInt8]

    /// Wraps JSON text.
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Wraps JSON text.
    public init(_ text: String) { self.bytes = Array(text.utf8) }

    /// The JSON text as a string.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public var postgresBind: PGBind {
        // Binary jsonb is a version byte (1) followed by the JSON text.
        var wire = [UInt8]()
        wire.reserveCapacity(bytes.count + 1)
        wire.append(1)
        wire.append(contentsOf: bytes)
        return PGBind(typeOID: PGType.jsonb, format: .binary, bytes: wire)
    }

    public static func decode(from cell: PGCell) throws(PGError) -> PGJSONB {
        guard let bytes = cell.bytes else { throw cell.unexpectedNull(Self.self) }
        switch cell.typeOID {
        case PGType.jsonb:
            guard bytes.first == 1 else { throw cell.mismatch(Self.self, "unknown jsonb format version") }
            return PGJSONB(bytes: Array(bytes.dropFirst()))
        case PGType.json, PGType.text, PGType.varchar, PGType.unknown:
            return PGJSONB(bytes: Array(bytes))
        default:
            throw cell.mismatch(Self.self)
        }
    }
}

/// A `Codable` value stored as `jsonb`.
public struct PGJSON<Value: Codable & Sendable>: Sendable, PGEncodable, PGDecodable {
    /// The value.
    public var value: Value

    /// Wraps a value.
    public init(_ value: Value) { self.value = value }

    public var postgresBind: PGBind {
        // Encoding a Codable value to JSON only fails for values JSON cannot hold (NaN);
        // such a value becomes NULL and the server's NOT NULL or the caller's check reports it.
        guard let data = try? JSONEncoder().encode(value) else { return .null }
        return PGJSONB(bytes: Array(data)).postgresBind
    }

    public static func decode(from cell: PGCell) throws(PGError) -> PGJSON<Value> {
        let json = try PGJSONB.decode(from: cell)
        do {
            return PGJSON(try JSONDecoder().decode(Value.self, from: Data(json.bytes)))
        } catch {
            throw cell.mismatch(Self.self, "invalid JSON for \(Value.self): \(error)")
        }
    }
}

/// Arrays of simple values, e.g. for `WHERE id = ANY(\(ids))` or a multi-row
/// `INSERT ... SELECT FROM unnest(...)`, sent in PostgreSQL's binary array format: each
/// element is its length and its bytes, so the server copies it instead of parsing an
/// escaped literal (a text literal of JSON documents has a backslash before every quote).
extension Array: PGEncodable where Element: PGArrayElement {
    // Inlinable so each call site gets a version specialized to its element type: the
    // generic one looked up type metadata for every element, and a save binds ~600 of them.
    @inlinable
    public var postgresBind: PGBind {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20 + count * 12)
        var hasNull = false
        for element in self where element.isNull {
            hasNull = true
            break
        }
        appendBigEndian(Int32(isEmpty ? 0 : 1), to: &bytes)  // dimensions (an empty array has none)
        appendBigEndian(Int32(hasNull ? 1 : 0), to: &bytes)
        appendBigEndian(Element.elementTypeOID, to: &bytes)
        if !isEmpty {
            appendBigEndian(Int32(count), to: &bytes)
            appendBigEndian(Int32(1), to: &bytes)  // lower bound
        }
        for element in self {
            guard !element.isNull else {
                appendBigEndian(Int32(-1), to: &bytes)
                continue
            }
            let lengthAt = bytes.count
            appendBigEndian(Int32(0), to: &bytes)
            element.appendBinary(to: &bytes)
            let length = UInt32(bytes.count - lengthAt - 4)
            for shift in 0..<4 { bytes[lengthAt + shift] = UInt8(truncatingIfNeeded: length >> (24 - 8 * shift)) }
        }
        return PGBind(typeOID: Element.arrayTypeOID, format: .binary, bytes: bytes)
    }
}

/// A value that can be an element of an array bind.
public protocol PGArrayElement: Sendable {
    /// The OID of the array type, e.g. `uuid[]`.
    static var arrayTypeOID: UInt32 { get }
    /// The OID of the element type, e.g. `uuid`.
    static var elementTypeOID: UInt32 { get }
    /// True for NULL.
    var isNull: Bool { get }
    /// Appends the element in PostgreSQL's binary format (not called for NULL).
    func appendBinary(to bytes: inout [UInt8])
}

extension UUID: PGArrayElement {
    public static var arrayTypeOID: UInt32 { PGType.uuidArray }
    public static var elementTypeOID: UInt32 { PGType.uuid }
    public var isNull: Bool { false }
    public func appendBinary(to bytes: inout [UInt8]) {
        withUnsafeBytes(of: uuid) { bytes += $0 }
    }
}

extension String: PGArrayElement {
    public static var arrayTypeOID: UInt32 { PGType.textArray }
    public static var elementTypeOID: UInt32 { PGType.text }
    public var isNull: Bool { false }
    public func appendBinary(to bytes: inout [UInt8]) {
        bytes += utf8
    }
}

extension Int: PGArrayElement {
    public static var arrayTypeOID: UInt32 { PGType.int8Array }
    public static var elementTypeOID: UInt32 { PGType.int8 }
    public var isNull: Bool { false }
    public func appendBinary(to bytes: inout [UInt8]) {
        appendBigEndian(Int64(self), to: &bytes)
    }
}

extension Optional: PGArrayElement where Wrapped: PGArrayElement {
    public static var arrayTypeOID: UInt32 { Wrapped.arrayTypeOID }
    public static var elementTypeOID: UInt32 { Wrapped.elementTypeOID }
    public var isNull: Bool {
        guard let value = self else { return true }
        return value.isNull
    }
    public func appendBinary(to bytes: inout [UInt8]) {
        self?.appendBinary(to: &bytes)
    }
}

extension Optional: PGEncodable where Wrapped: PGEncodable {
    public var postgresBind: PGBind { self?.postgresBind ?? .null }
}

/// PostgreSQL counts time from 2000-01-01 00:00:00 UTC.
enum PGEpoch {
    static let unixOffset: Double = 946_684_800
}

@inline(__always)
func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

/// Appends `value` in network byte order, without a temporary array.
@inlinable @inline(__always)
func appendBigEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
}

/// A string-backed enum binds as its text.
extension PGEncodable where Self: RawRepresentable, RawValue == String {
    public var postgresBind: PGBind { rawValue.postgresBind }
}
