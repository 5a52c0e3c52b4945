import CLibPQ
import Foundation

/// Helpers for libpq connection strings (`key=value ...` or `postgresql://` URIs).
///
/// The driver hands the string to libpq unchanged, so `.pgpass`, `PG*` variables, `sslmode`
/// and multi-host `target_session_attrs` behave exactly as operators expect from psql.
public enum ConnectionString {
    /// Removes the password from `text` (an error message or the connection string itself),
    /// whether or not `connectionString` is well formed.
    public static func redact(_ text: String, connectionString: String) -> String {
        var result = text
        if let password = parameters(of: connectionString)?["password"], !password.isEmpty {
            result = result.replacingAll(password, with: "****")
        }
        return redactPatterns(result)
    }

    /// The parameters libpq reads from `connectionString`, or nil when libpq cannot parse it.
    public static func parameters(of connectionString: String) -> [String: String]? {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorMessage) else {
            if let errorMessage { PQfreemem(errorMessage) }
            return nil
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        return values
    }

    /// Why libpq cannot parse `connectionString`, or nil when it can.
    public static func parseError(of connectionString: String) -> String? {
        var errorMessage: UnsafeMutablePointer<CChar>?
        if let options = PQconninfoParse(connectionString, &errorMessage) {
            PQconninfoFree(options)
            return nil
        }
        guard let errorMessage else { return "cannot parse the connection string" }
        defer { PQfreemem(errorMessage) }
        return redact(String(cString: errorMessage).trimmingWhitespace, connectionString: connectionString)
    }

    /// Masks `user:secret@` in URIs and `password=secret` in key/value strings, for text
    /// libpq could not parse (so the password is not known exactly).
    static func redactPatterns(_ text: String) -> String {
        var output = ""
        output.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            // URI userinfo: "://user:password@"
            if text[index...].hasPrefix("://"),
               let at = text[index...].firstIndex(of: "@"),
               let colon = text[text.index(index, offsetBy: 3)..<at].firstIndex(of: ":"),
               !text[text.index(index, offsetBy: 3)..<at].contains(where: { $0 == "/" || $0 == " " }) {
                output += text[index...colon]
                output += "****"
                index = at
                continue
            }
            // key=value: "password=secret" or "password='secret with spaces'"
            if text[index...].hasPrefix("password="), index == text.startIndex || !text[text.index(before: index)].isLetter {
                output += "password=****"
                index = text.index(index, offsetBy: 9)
                if index < text.endIndex, text[index] == "'" {
                    index = text.index(after: index)
                    while index < text.endIndex, text[index] != "'" { index = text.index(after: index) }
                    if index < text.endIndex { index = text.index(after: index) }
                } else {
                    while index < text.endIndex, !text[index].isWhitespace, text[index] != "&" { index = text.index(after: index) }
                }
                continue
            }
            output.append(text[index])
            index = text.index(after: index)
        }
        return output
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var output = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            output += rest[..<range.lowerBound]
            output += replacement
            rest = rest[range.upperBound...]
        }
        output += rest
        return output
    }
}
