import ProgramDomain

/// A short alias used by test helpers.
enum SHA256Hex {
    static func of(_ text: String) -> String { SHA256Checksum.hex(text) }
}
