/// Makes strings of up to 15 ASCII bytes directly in the standard library's small-string
/// form: the bytes in order in the value's two words, the last byte `0xE0 | count`
/// (immortal, small, ASCII). Most names, ids and numbers of a program are such strings,
/// and the public initializers spend about 20 ns on each (validating again what the parser
/// has already checked), a tenth of a program's decoding.
///
/// The layout is what the standard library's inlined code compiled into every client
/// relies on, but it is not a public promise, so it is checked once against strings the
/// standard library built itself (`layoutHolds`). Callers read that once per parser,
/// writer or validation (not per string: each read of a global is a call) and use these
/// functions only where it holds.
@usableFromInline package enum SmallASCIIString {
    @usableFromInline package static let capacity = 15

    /// The string of `count` bytes at `base` if they are ASCII and at most 15; nil
    /// otherwise. `readable` is how many bytes from `base` may be read: with 16, the bytes
    /// are taken in two loads.
    @inline(__always)
    @inlinable package static func make(_ base: UnsafePointer<UInt8>, count: Int, readable: Int) -> String? {
        guard count <= capacity else { return nil }
        var low: UInt64 = 0, high: UInt64 = 0
        if readable >= 16 {
            let raw = UnsafeRawPointer(base)
            low = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)) & mask(keeping: count)
            high = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) & mask(keeping: count - 8)
        } else {
            for offset in 0..<count {
                if offset < 8 {
                    low |= UInt64(base[offset]) << (8 * offset)
                } else {
                    high |= UInt64(base[offset]) << (8 * (offset - 8))
                }
            }
        }
        guard (low | high) & 0x8080_8080_8080_8080 == 0 else { return nil }
        return bitsAsString(low: low, high: high | UInt64(0xE0 | count) << 56)
    }

    /// The bytes of `string` when it is a small ASCII string (as most names and ids are):
    /// bytes 0-7 in `low`, 8-14 in `high`, zeros after the last; nil for any other string.
    @inline(__always)
    @inlinable package static func words(of string: String) -> (low: UInt64, high: UInt64, count: Int)? {
        let (low, high) = unsafeBitCast(string, to: (UInt64, UInt64).self)
        guard high >> 60 == 0xE else { return nil }  // immortal, small, ASCII
        return (low, high & 0x00FF_FFFF_FFFF_FFFF, Int(high >> 56 & 0x0F))
    }

    /// `a == b`, from the bits alone when both are small ASCII strings (equal exactly when
    /// their bits are), where `==` compares the bits and then, when they differ, calls the
    /// standard library's general comparison.
    @inline(__always)
    @inlinable package static func equal(_ a: String, _ b: String) -> Bool {
        if let x = words(of: a), let y = words(of: b) { return x.low == y.low && x.high == y.high && x.count == y.count }
        return a == b
    }

    /// The low `bytes` bytes of a word set (0...8 of them; fewer than 0 counts as 0).
    @inline(__always)
    @inlinable package static func mask(keeping bytes: Int) -> UInt64 {
        bytes >= 8 ? ~0 : bytes <= 0 ? 0 : (1 << (8 * UInt64(bytes))) &- 1
    }

    @inline(__always)
    @inlinable package static func bitsAsString(low: UInt64, high: UInt64) -> String {
        unsafeBitCast((low, high), to: String.self)
    }

    /// Whether strings built by `make` are bit for bit the ones the standard library
    /// builds from the same bytes, checked for every length on this platform's library.
    @usableFromInline package static let layoutHolds: Bool = {
        #if _endian(little) && _pointerBitWidth(_64)
        guard MemoryLayout<String>.size == 16 else { return false }
        let sample = Array("0123456789abcdef".utf8)  // 16 bytes: both ways of loading are checked
        return sample.withUnsafeBufferPointer { sample in
            (0...capacity).allSatisfy { count in
                let expected = unsafeBitCast(String(decoding: sample.prefix(count), as: UTF8.self), to: (UInt64, UInt64).self)
                return [count, sample.count].allSatisfy { readable in
                    guard let made = make(sample.baseAddress!, count: count, readable: readable) else { return false }
                    return unsafeBitCast(made, to: (UInt64, UInt64).self) == expected
                }
            }
        }
        #else
        return false
        #endif
    }()
}
