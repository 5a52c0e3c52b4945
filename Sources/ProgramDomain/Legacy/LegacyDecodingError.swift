/// Why legacy program JSON could not be read, with every problem found (not just the first),
/// each at its JSON path. Decoding never crashes on bad input; it throws this.
public struct LegacyDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [Problem]

    public init(problems: [Problem]) {
        self.problems = problems
    }

    /// One problem: where, and what is wrong there.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        public var path: JSONPath
        public var reason: Reason

        public init(path: JSONPath, reason: Reason) {
            self.path = path
            self.reason = reason
        }

        public var description: String { "\(path): \(reason)" }
    }

    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// The bytes are not JSON at all.
        case invalidJSON(JSONSyntaxError)
        /// A required key is absent.
        case missing
        /// The value has the wrong JSON type (`expected` and `found` are type names).
        case wrongType(expected: String, found: String)
        /// A string where a number belongs does not spell a number.
        case notANumber(String)
        /// A count (`sets`, `reps`, ...) that is not a whole number.
        case notAWholeNumber(String)
        /// A whole number too large to be any valid value.
        case numberTooLarge(String)

        public var description: String {
            switch self {
            case .invalidJSON(let error): "\(error)"
            case .missing: "is missing"
            case .wrongType(let expected, let found): "must be \(expected), found \(found)"
            case .notANumber(let text): "must be a number, found the string \"\(text)\""
            case .notAWholeNumber(let text): "must be a whole number, found \(text)"
            case .numberTooLarge(let text): "\(text) is too large"
            }
        }
    }

    /// One line: the first problem and how many more there are.
    public var description: String {
        guard let first = problems.first else { return "the program JSON cannot be read" }
        let more = problems.count > 1 ? " (and \(problems.count - 1) more problem\(problems.count == 2 ? "" : "s"))" : ""
        return "the program JSON cannot be read: \(first)\(more)"
    }
}
