// ProgramJSON: JSON values, their parser and writers, and every unsafe fast path the
// program domain relies on, behind one module boundary. The rest of the package reaches
// them only through `package` declarations (inlinable, so the domain's hot loops still get
// them inlined); nothing here is part of the public API but the value types and errors.
//
// The invariants each unsafe part keeps, and what breaks if one is broken:
//
// 1. `SmallASCIIString` builds strings in the standard library's small-string layout
//    (bytes in order in two words, last byte `0xE0 | count`). Used only where
//    `SmallASCIIString.layoutHolds` (checked once against strings the standard library built
//    itself) is true, for at most 15 bytes that are all ASCII; `readable` must not exceed
//    the bytes that really follow `base`. A wrong layout would make strings that compare or
//    hash wrongly, silently.
// 2. `JSONParser` reads through an `UnsafeBufferPointer` that the caller keeps alive for
//    the whole parse (`withUnsafeBufferPointer` around it); every read is guarded by
//    `index < bytes.count` or by a scan that stops at `bytes.count`. Strings it returns copy
//    the bytes: nothing it returns points into the buffer after the parse.
// 3. `StringSpecialBytes.first(in:from:)` reads eight bytes per step only while
//    `position + 8 <= bytes.count`, then byte by byte.
// 4. `ByteBuffer` owns its allocation (noncopyable: one owner, freed once in `deinit`);
//    `count <= capacity` always, and every append grows it first when full.
// 5. `UTF8Validation` accepts exactly RFC 3629 UTF-8 (no overlong forms, no surrogates,
//    nothing above U+10FFFF) before any `String(decoding:)` of parsed bytes, so no string
//    is made from invalid UTF-8.
//
// The fuzz and property tests of ProgramDomainTests (decoder, codec, short strings) cover
// these paths with the domain's own inputs.
