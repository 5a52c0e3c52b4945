/// Legacy JSON read the way the migration reads it: decoded (ids generated for id-less
/// programs by the fixed rule), then held to the invariants. The backfill and the checker
/// both start here, so they can never disagree on what counts as migratable.
public enum LegacyReading: Sendable {
    /// Readable and valid: what a version holds.
    case valid(Program)
    /// The JSON cannot be read; every problem at its path.
    case unreadable(LegacyDecodingError)
    /// Readable, but it breaks invariants; every violation at its path.
    case invalid(Program, [Violation])

    public init(legacyJSON bytes: [UInt8]) {
        let program: Program
        do throws(LegacyDecodingError) {
            program = try Program(legacyJSON: bytes)
        } catch {
            self = .unreadable(error)
            return
        }
        let violations = program.violations
        self = violations.isEmpty ? .valid(program) : .invalid(program, violations)
    }
}
