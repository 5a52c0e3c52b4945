/// Where in a program's JSON something is: `name`, `workouts[1].exercises[0].sets`,
/// `schedule[2].workoutIndex`. Indexes are positions in the legacy JSON.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component] = []) {
        self.components = components
    }

    /// Parses the dotted form this type prints (keys without dots or brackets).
    public init(stringLiteral value: String) {
        var components: [Component] = []
        for part in value.split(separator: ".") {
            var rest = Substring(part)
            if let bracket = rest.firstIndex(of: "[") {
                if bracket > rest.startIndex { components.append(.key(String(rest[..<bracket]))) }
                rest = rest[bracket...]
                while rest.first == "[", let close = rest.firstIndex(of: "]") {
                    if let index = Int(rest[rest.index(after: rest.startIndex)..<close]) { components.append(.index(index)) }
                    rest = rest[rest.index(after: close)...]
                }
            } else {
                components.append(.key(String(rest)))
            }
        }
        self.components = components
    }

    public static let root = JSONPath()

    public func appending(_ key: String) -> JSONPath { JSONPath(components + [.key(key)]) }
    public func appending(_ index: Int) -> JSONPath { JSONPath(components + [.index(index)]) }

    public static func workout(_ position: Int) -> JSONPath { JSONPath([.key("workouts"), .index(position)]) }
    public static func exercise(_ position: Int, inWorkout workout: Int) -> JSONPath {
        JSONPath([.key("workouts"), .index(workout), .key("exercises"), .index(position)])
    }
    public static func scheduleEntry(_ position: Int) -> JSONPath { JSONPath([.key("schedule"), .index(position)]) }

    /// `$` for the document itself.
    public var description: String {
        guard !components.isEmpty else { return "$" }
        var text = ""
        for component in components {
            switch component {
            case .key(let key): text += text.isEmpty ? key : "." + key
            case .index(let index): text += "[\(index)]"
            }
        }
        return text
    }
}
