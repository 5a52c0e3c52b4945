import Crypto

/// SHA-256 as hex, for checksums that must match across processes and releases: migration
/// files and the canonical form of a program. PostgreSQL's `sha256()` computes the same
/// digest, so a checksum can be compared in SQL.
public enum SHA256Checksum {
    /// The digest of `bytes` as 64 lowercase hex characters.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digest = Crypto.SHA256.hash(data: Array(bytes))
        return hexString(digest)
    }

    /// The digest of the UTF-8 bytes of `text`, as hex.
    public static func hex(_ text: String) -> String { hex(Array(text.utf8)) }

    /// The digest of a byte buffer without copying it.
    public static func hex(_ buffer: UnsafeRawBufferPointer) -> String {
        var hasher = Crypto.SHA256()
        hasher.update(bufferPointer: buffer)
        return hexString(hasher.finalize())
    }

    /// A digest computed piece by piece, for data that arrives in chunks (a file, a COPY).
    public struct Hasher: Sendable {
        private var state = Crypto.SHA256()

        public init() {}

        public mutating func update(_ bytes: [UInt8]) {
            state.update(data: bytes)
        }

        /// The digest of everything passed to `update`, as hex.
        public func finalizedHex() -> String {
            hexString(state.finalize())
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func hexString(_ digest: some Sequence<UInt8>) -> String {
        // Written straight into the string's storage: one allocation, no array.
        String(unsafeUninitializedCapacity: 64) { characters in
            var count = 0
            for byte in digest {
                characters[count] = hexDigits[Int(byte >> 4)]
                characters[count + 1] = hexDigits[Int(byte & 0x0f)]
                count += 2
            }
            return count
        }
    }
}
