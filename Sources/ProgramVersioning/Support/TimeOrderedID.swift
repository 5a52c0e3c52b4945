import Foundation

/// Row ids for the versioned tables (and any id an app wants sorted by creation time):
/// UUIDv7 (RFC 9562), 48 bits of Unix milliseconds followed by random bits. The client
/// makes them itself, so a save names its rows and a COPY links exercises to their workout
/// rows without asking the server for ids first; and they sort by when they were made.
public enum TimeOrderedID {
    public static func make(at date: Date = Date()) -> UUID {
        var generator = SystemRandomNumberGenerator()
        return make(milliseconds: UInt64(max(0, date.timeIntervalSince1970 * 1000)), random: generator.next(), generator.next())
    }

    /// The id for `milliseconds` with the given random bits (their version and variant bits
    /// are overwritten).
    public static func make(milliseconds: UInt64, random high: UInt64, _ low: UInt64) -> UUID {
        let time = milliseconds & 0xFFFF_FFFF_FFFF
        // 48 bits of time, version 7, 12 random bits; variant 0b10, 62 random bits.
        let upper = (time << 16) | 0x7000 | (high & 0x0FFF)
        let lower = 0x8000_0000_0000_0000 | (low & 0x3FFF_FFFF_FFFF_FFFF)
        let u = upper.bigEndian, l = lower.bigEndian
        return withUnsafeBytes(of: (u, l)) { bytes in
            UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        }
    }
}
