extension Program {
    /// The canonical form: the legacy JSON (see `legacyJSON`) written with sorted keys and
    /// canonical numbers (see `JSONWriter`), bodyweight always as an absent `weightKg`.
    ///
    /// Two legacy documents that differ only in key order, whitespace, number spelling
    /// (`5`, `"5"`, `5.0`) or `null` vs absent weight have the same canonical form. Unknown
    /// keys count: the app may depend on them.
    public var canonicalBytes: [UInt8] {
        legacyJSON(spellingBodyweightAsNull: false).canonicalBytes
    }

    /// SHA-256 of `canonicalBytes`, as 64 hex digits: `program_versions.source_checksum`.
    public var canonicalChecksum: String {
        canonicalBytes.withUnsafeBytes { SHA256Checksum.hex($0) }
    }
}
