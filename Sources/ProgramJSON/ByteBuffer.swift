/// A growable byte buffer for the JSON writers. Unlike `[UInt8]`, an append is a bounds
/// check and a store: no uniqueness check, and, being a noncopyable struct rather than a
/// class, no reference counting wherever it is passed, which matters when a program's
/// canonical form is written for every row of a million-row backfill.
@usableFromInline package struct ByteBuffer: ~Copyable {
    @usableFromInline package var base: UnsafeMutablePointer<UInt8>
    @usableFromInline package var count = 0
    @usableFromInline package var capacity: Int

    @inlinable package init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit {
        base.deallocate()
    }

    @inline(__always)
    @inlinable package mutating func append(_ byte: UInt8) {
        if count == capacity { grow(to: count + 1) }
        base[count] = byte
        count += 1
    }

    @inline(__always)
    @inlinable package mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        if count + bytes.count > capacity { grow(to: count + bytes.count) }
        (base + count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    /// The ASCII text of a literal, e.g. `null`.
    @inline(__always)
    @inlinable package mutating func append(_ text: StaticString) {
        append(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// `count` bytes (at most 15) held in two little-endian words, between quotes: two
    /// stores instead of a copy loop. The bytes after `count` are written and then left
    /// beyond the end.
    @inline(__always)
    @inlinable package mutating func appendQuoted(low: UInt64, high: UInt64, count byteCount: Int) {
        if count + 18 > capacity { grow(to: count + 18) }
        let raw = UnsafeMutableRawPointer(base + count)
        raw.storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
        raw.storeBytes(of: low.littleEndian, toByteOffset: 1, as: UInt64.self)
        raw.storeBytes(of: high.littleEndian, toByteOffset: 9, as: UInt64.self)
        raw.storeBytes(of: UInt8(ascii: "\""), toByteOffset: 1 + byteCount, as: UInt8.self)
        count += byteCount + 2
    }

    /// The decimal digits of `value`, written straight into the buffer.
    @inlinable package mutating func appendDecimal(_ value: Int) {
        if count + 20 > capacity { grow(to: count + 20) }
        if value < 0 {
            base[count] = UInt8(ascii: "-")
            count += 1
        }
        var magnitude = value.magnitude
        var digits = 1
        var probe = magnitude
        while probe >= 10 {
            probe /= 10
            digits += 1
        }
        var position = count + digits
        repeat {
            position -= 1
            base[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        count += digits
    }

    @usableFromInline package var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    @inlinable package func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    @inlinable package mutating func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.moveInitialize(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }
}
