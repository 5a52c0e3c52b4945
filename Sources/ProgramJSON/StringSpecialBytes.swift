/// The bytes that end the plain part of a JSON string: `"`, `\` and control characters.
/// The parser looks for them to find where a string or key ends, the writer to know whether
/// a string needs escaping; both scan eight bytes per step.
@usableFromInline package enum StringSpecialBytes {
    /// The position of the first special byte at or after `start`, or `bytes.count`.
    @inline(__always)
    @inlinable package static func first(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var position = start
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while position + 8 <= bytes.count {
                // Little-endian order, so the lowest flagged byte is the first in the input.
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                let special = flags(word)
                if special != 0 { return position + (special.trailingZeroBitCount >> 3) }
                position += 8
            }
        }
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { return position }
            position += 1
        }
        return position
    }

    /// The high bit of each byte of `word` (little-endian) that is special, and possibly of
    /// bytes after a special one: high bit set in a byte that is below 0x20 (among bytes
    /// below 0x80), or equal to `"` or `\` (zero after the XOR); bytes >= 0x80 never match.
    /// A borrow can flag a byte above a true match, never below, so the lowest flag is exact.
    @inline(__always)
    @inlinable package static func flags(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- 0x2020_2020_2020_2020) & ~word & highs
        let quote = word ^ (ones &* 0x22), backslash = word ^ (ones &* 0x5C)
        return control | ((quote &- ones) & ~quote & highs) | ((backslash &- ones) & ~backslash & highs)
    }
}
