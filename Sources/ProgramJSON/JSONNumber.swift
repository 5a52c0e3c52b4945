/// A JSON number kept as its literal text, so no value is ever rounded.
///
/// Two numbers are equal when they have the same decimal value, whatever their spelling;
/// `canonical` is the one spelling the canonical form uses:
/// - no sign on zero, no leading zeros, no trailing fractional zeros;
/// - plain decimal when the decimal point falls within 21 digits left or 6 right of the
///   digits (`1500`, `82.5`, `0.000125`), else one digit, a point and an exponent
///   (`1.5e25`, `1e-7`), the thresholds JavaScript uses for its numbers.
/// Exponents beyond ±1,000,000,000 saturate there (no program holds such values).
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The text exactly as written, valid by JSON's number grammar.
    public let literal: String

    /// Accepts exactly JSON's number grammar (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
    public init?(_ literal: String) {
        var literal = literal
        let valid = literal.withUTF8 { JSONNumber.grammarLength(of: $0, from: 0) == $0.count }
        guard valid else { return nil }
        self.literal = literal
    }

    /// A literal the parser already checked.
    @inlinable package init(validatedLiteral: String) {
        self.literal = validatedLiteral
    }

    public init(_ value: Int) {
        self.literal = String(value)
    }

    /// Swift's shortest round-tripping spelling of `value`; nil for NaN and infinities,
    /// which JSON cannot hold.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        self.init(value == value.rounded(.towardZero) && abs(value) < 1e15 ? String(Int(value)) : "\(value)")
    }

    public var description: String { literal }

    public static func == (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        lhs.literal == rhs.literal || lhs.decimal == rhs.decimal
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(decimal)
    }

    /// The value when it is a whole number that fits in `Int` (`5`, `5.0`, `50e-1`).
    public var intValue: Int? {
        if let fast = plainInteger { return fast }
        let decimal = self.decimal
        guard decimal.exponent >= 0, decimal.digits.count + decimal.exponent <= 18 else {
            return decimal.digits.isEmpty ? 0 : nil
        }
        var value = 0
        for digit in decimal.digits { value = value * 10 + Int(digit - UInt8(ascii: "0")) }
        for _ in 0..<decimal.exponent { value *= 10 }
        return decimal.negative ? -value : value
    }

    /// True when the value is a whole number (of any size).
    public var isWholeNumber: Bool { plainInteger != nil || decimal.exponent >= 0 }

    /// The value as the nearest `Double`.
    public var doubleValue: Double { Double(literal) ?? .nan }

    /// Compares the value with an integer exactly.
    public func compare(to integer: Int) -> ComparisonResult {
        if let fast = plainInteger { return fast < integer ? .less : (fast > integer ? .greater : .equal) }
        if let parts = SimpleParts(literal) { return parts.compare(to: integer) }
        let lhs = decimal
        let rhs = JSONNumber(integer).decimal
        return lhs.compare(to: rhs)
    }

    /// Whether the value lies in `range`, compared exactly.
    public func isWithin(_ range: ClosedRange<Int>) -> Bool {
        if let parts = SimpleParts(literal) {
            return parts.compare(to: range.lowerBound) != .less && parts.compare(to: range.upperBound) != .greater
        }
        return compare(to: range.lowerBound) != .less && compare(to: range.upperBound) != .greater
    }

    /// The canonical spelling (see the type's documentation).
    public var canonical: String {
        if literal.utf8.withContiguousStorageIfAvailable(Self.isCanonicalSpelling) == true { return literal }
        return decimal.canonicalText
    }

    /// Whether a literal is already in canonical spelling, for the common cases answered
    /// without building a `Decimal`: an integer of at most 18 digits without leading zeros
    /// (not `-0`), or a decimal like `82.5` or `-1.25` (nonzero integer part, no trailing
    /// fractional zero, no exponent). Anything else answers false and takes the long way,
    /// which gives the same text when it was canonical after all.
    @inlinable package static func isCanonicalSpelling(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = bytes.first == UInt8(ascii: "-") ? 1 : 0
        guard start < bytes.count else { return false }
        if bytes[start] == UInt8(ascii: "0") { return bytes.count == 1 }  // `0`; not `-0`, `0.5`, `05`
        var position = start
        while position < bytes.count, bytes[position] &- UInt8(ascii: "0") <= 9 { position += 1 }
        if position == bytes.count { return position - start <= 18 }
        guard bytes[position] == UInt8(ascii: "."), bytes[bytes.count - 1] != UInt8(ascii: "0") else { return false }
        position += 1
        while position < bytes.count, bytes[position] &- UInt8(ascii: "0") <= 9 { position += 1 }
        return position == bytes.count  // no exponent
    }

    /// The value of a literal that is a plain integer without leading zeros and fits in
    /// 18 digits: the common case, decoded without building a `Decimal`.
    @inlinable package var plainInteger: Int? {
        var copy = literal
        return copy.withUTF8 { bytes -> Int? in
            var index = 0
            var negative = false
            if bytes.first == UInt8(ascii: "-") { negative = true; index = 1 }
            let digitCount = bytes.count - index
            guard digitCount >= 1, digitCount <= 18 else { return nil }
            if digitCount > 1, bytes[index] == UInt8(ascii: "0") { return nil }
            var value = 0
            while index < bytes.count {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit <= 9 else { return nil }
                value = value &* 10 &+ Int(digit)
                index += 1
            }
            return negative ? -value : value
        }
    }

    @usableFromInline package var decimal: Decimal { Decimal(literal: literal) }

    public enum ComparisonResult: Sendable { case less, equal, greater }

    /// sign × digits × 10^exponent, with no leading or trailing zeros in `digits`
    /// (empty digits is zero, which has no sign).
    @usableFromInline package struct Decimal: Hashable {
        @usableFromInline package var negative: Bool
        @usableFromInline package var digits: [UInt8]
        @usableFromInline package var exponent: Int

        @inlinable package init(literal: String) {
            var literal = literal
            (negative, digits, exponent) = literal.withUTF8 { bytes in
                var index = 0
                var negative = false
                if index < bytes.count, bytes[index] == UInt8(ascii: "-") { negative = true; index += 1 }
                var digits: [UInt8] = []
                var exponent = 0
                var inFraction = false
                while index < bytes.count {
                    let byte = bytes[index]
                    if byte == UInt8(ascii: ".") {
                        inFraction = true
                    } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                        break
                    } else {
                        if !(digits.isEmpty && byte == UInt8(ascii: "0")) { digits.append(byte) }
                        if inFraction { exponent -= 1 }
                    }
                    index += 1
                }
                if index < bytes.count {
                    index += 1
                    var exponentNegative = false
                    if bytes[index] == UInt8(ascii: "-") { exponentNegative = true; index += 1 } else if bytes[index] == UInt8(ascii: "+") { index += 1 }
                    var written = 0
                    while index < bytes.count {
                        written = min(written * 10 + Int(bytes[index] - UInt8(ascii: "0")), 1_000_000_000)
                        index += 1
                    }
                    exponent += exponentNegative ? -written : written
                }
                while digits.last == UInt8(ascii: "0") {
                    digits.removeLast()
                    exponent += 1
                }
                if digits.isEmpty { return (false, digits, 0) }
                return (negative, digits, exponent)
            }
        }

        @inlinable package func compare(to other: Decimal) -> ComparisonResult {
            if negative != other.negative { return negative ? .less : .greater }
            let magnitude = compareMagnitude(to: other)
            if negative { return magnitude == .less ? .greater : (magnitude == .greater ? .less : .equal) }
            return magnitude
        }

        @inlinable package func compareMagnitude(to other: Decimal) -> ComparisonResult {
            if digits.isEmpty || other.digits.isEmpty {
                if digits.isEmpty && other.digits.isEmpty { return .equal }
                return digits.isEmpty ? .less : .greater
            }
            // Compare by the position of the leading digit, then digit by digit.
            let lead = digits.count + exponent, otherLead = other.digits.count + other.exponent
            if lead != otherLead { return lead < otherLead ? .less : .greater }
            for index in 0..<max(digits.count, other.digits.count) {
                let a = index < digits.count ? digits[index] : UInt8(ascii: "0")
                let b = index < other.digits.count ? other.digits[index] : UInt8(ascii: "0")
                if a != b { return a < b ? .less : .greater }
            }
            return .equal
        }

        @inlinable package var canonicalText: String {
            if digits.isEmpty { return "0" }
            var text: [UInt8] = negative ? [UInt8(ascii: "-")] : []
            let point = digits.count + exponent  // digits left of the decimal point
            if exponent >= 0, point <= 21 {
                text += digits
                text += [UInt8](repeating: UInt8(ascii: "0"), count: exponent)
            } else if exponent < 0, point > 0 {
                text += digits[0..<point]
                text.append(UInt8(ascii: "."))
                text += digits[point...]
            } else if point <= 0, point > -6 {
                text += Array("0.".utf8)
                text += [UInt8](repeating: UInt8(ascii: "0"), count: -point)
                text += digits
            } else {
                text.append(digits[0])
                if digits.count > 1 {
                    text.append(UInt8(ascii: "."))
                    text += digits[1...]
                }
                text += Array("e\(point - 1)".utf8)
            }
            return String(decoding: text, as: UTF8.self)
        }
    }
}

/// A literal without an exponent and with at most 18 integer digits (every weight), read
/// without building a `Decimal`: |value| = whole + f, 0 <= f < 1, f > 0 exactly when
/// `hasFraction`.
@usableFromInline package struct SimpleParts {
    @usableFromInline package var negative: Bool
    @usableFromInline package var whole: Int
    @usableFromInline package var hasFraction: Bool

    @inlinable package init?(_ literal: String) {
        var copy = literal
        guard let parts = copy.withUTF8({ bytes -> SimpleParts? in
            var index = 0
            let negative = bytes.first == UInt8(ascii: "-")
            if negative { index = 1 }
            var whole = 0, digits = 0
            while index < bytes.count, bytes[index] != UInt8(ascii: ".") {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit <= 9, digits < 18 else { return nil }  // an exponent, or too long
                whole = whole * 10 + Int(digit)
                digits += 1
                index += 1
            }
            var fraction = false
            if index < bytes.count { index += 1 }  // the point
            while index < bytes.count {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit <= 9 else { return nil }
                if digit != 0 { fraction = true }
                index += 1
            }
            return SimpleParts(negative: negative && (whole != 0 || fraction), whole: whole, hasFraction: fraction)
        }) else { return nil }
        self = parts
    }

    @inlinable package init(negative: Bool, whole: Int, hasFraction: Bool) {
        self.negative = negative
        self.whole = whole
        self.hasFraction = hasFraction
    }

    @inlinable package func compare(to integer: Int) -> JSONNumber.ComparisonResult {
        func compareMagnitude(to target: Int) -> JSONNumber.ComparisonResult {
            if whole < target { return .less }
            if whole > target { return .greater }
            return hasFraction ? .greater : .equal
        }
        guard negative else { return compareMagnitude(to: integer) }
        if integer == Int.min { return .greater }
        switch compareMagnitude(to: -integer) {
        case .less: return .greater
        case .greater: return .less
        case .equal: return .equal
        }
    }
}

extension JSONNumber {
    /// Length of the JSON number starting at `start`, or nil when the bytes there are not
    /// one. Shared by the parser and the validating initializer.
    @inlinable package static func grammarLength(of bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start
        func digit(_ at: Int) -> Bool { at < bytes.count && bytes[at] >= UInt8(ascii: "0") && bytes[at] <= UInt8(ascii: "9") }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard digit(index) else { return nil }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while digit(index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digit(index) else { return nil }
            while digit(index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digit(index) else { return nil }
            while digit(index) { index += 1 }
        }
        return index - start
    }
}
