import Foundation

/// Known, accepted differences, declared in a JSON file with a reason each. A matching
/// difference is still reported, marked ignored with its reason; it does not make the run
/// unclean.
///
/// ```json
/// { "ignore": [
///     { "kind": "INVALID_LEGACY", "programId": "8f0c...", "path": "workouts[1].id", "reason": "TICKET-12: merged by hand" },
///     { "kind": "ORPHAN_VERSION", "reason": "restored test data, removed in Q3" } ] }
/// ```
/// `kind` and `reason` are required; `programId` and `path` narrow the rule when given.
public struct CheckIgnoreList: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var kind: DifferenceKind
        public var programID: UUID?
        public var path: String?
        public var reason: String

        public init(kind: DifferenceKind, programID: UUID? = nil, path: String? = nil, reason: String) {
            (self.kind, self.programID, self.path, self.reason) = (kind, programID, path, reason)
        }
    }

    public var rules: [Rule]

    public init(rules: [Rule] = []) {
        self.rules = rules
    }

    /// Why a rule in the file cannot be used, with where it is.
    public struct FileError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(file path: String) throws(FileError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileError(description: "cannot read the ignore file \(path): check the path and its permissions")
        }
        try self.init(json: data, source: path)
    }

    public init(json data: Data, source: String = "the ignore file") throws(FileError) {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let entries = root["ignore"] as? [Any] else {
            throw FileError(description: "\(source) is not a JSON object with an \"ignore\" array")
        }
        var rules: [Rule] = []
        for (index, entry) in entries.enumerated() {
            let at = "\(source): ignore[\(index)]"
            guard let fields = entry as? [String: Any] else { throw FileError(description: "\(at) is not an object") }
            guard let kindText = fields["kind"] as? String, let kind = DifferenceKind(rawValue: kindText) else {
                let known = DifferenceKind.allCases.map(\.rawValue).joined(separator: ", ")
                throw FileError(description: "\(at).kind must be one of \(known)")
            }
            guard let reason = (fields["reason"] as? String)?.trimmingCharacters(in: .whitespaces), !reason.isEmpty else {
                throw FileError(description: "\(at).reason is missing: every ignored difference needs a reason")
            }
            var programID: UUID?
            if let text = fields["programId"] {
                guard let text = text as? String, let id = UUID(uuidString: text) else {
                    throw FileError(description: "\(at).programId must be a UUID")
                }
                programID = id
            }
            if let path = fields["path"], !(path is String) { throw FileError(description: "\(at).path must be a string") }
            rules.append(Rule(kind: kind, programID: programID, path: fields["path"] as? String, reason: reason))
        }
        self.rules = rules
    }

    /// The reason `difference` is ignored, if a rule matches it.
    public func reason(for difference: CheckDifference) -> String? {
        rules.first { rule in
            rule.kind == difference.kind
                && (rule.programID == nil || rule.programID == difference.programID)
                && (rule.path == nil || rule.path == difference.path)
        }?.reason
    }
}
