import Foundation
import PostgresDriver

/// What a migration's Down would destroy, read from its statements: `DROP TABLE`, `ALTER
/// TABLE ... DROP COLUMN`, `DELETE FROM` and `TRUNCATE`. Read from the files, not declared
/// beside them, so a new migration is covered the day it is written and an applied file
/// never has to change (its checksum would refuse it).
struct DownDataLoss: Sendable, Equatable {
    /// Something a Down statement removes.
    enum Target: Sendable, Hashable {
        case table(String)
        case column(table: String, column: String)
        /// `DELETE FROM table [WHERE condition]`, the condition as the migration wrote it.
        case rows(table: String, condition: String?)

        var table: String {
            switch self {
            case .table(let name), .column(let name, _), .rows(let name, _): name
            }
        }
    }

    var targets: [Target]

    /// The targets of `statements`, in order.
    init(statements: [String]) {
        targets = statements.flatMap(Self.targets(of:))
    }

    private static let identifier = #"("?[A-Za-z_][A-Za-z0-9_]*"?)"#

    private static func targets(of statement: String) -> [Target] {
        // Comment lines go; the rest is one line of words.
        let text = statement.split(separator: "\n")
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
            .joined(separator: " ")
        let words = text.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: ";")))
        func matches(_ pattern: String) -> [[String]] {
            guard let regex = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) else { return [] }
            return regex.matches(in: words, range: NSRange(words.startIndex..., in: words)).map { match in
                (0..<match.numberOfRanges).map { index in
                    Range(match.range(at: index), in: words).map { String(words[$0]) } ?? ""
                }
            }
        }
        func name(_ raw: String) -> String { raw.replacingOccurrences(of: "\"", with: "").lowercased() }

        if let drop = matches(#"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(.+?)(?:\s+CASCADE|\s+RESTRICT)?$"#).first {
            return drop[1].split(separator: ",").map { .table(name($0.trimmingCharacters(in: .whitespaces))) }
        }
        if let truncate = matches(#"^TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?(.+?)(?:\s+CASCADE|\s+RESTRICT)?$"#).first {
            return truncate[1].split(separator: ",").map { .rows(table: name($0.trimmingCharacters(in: .whitespaces)), condition: nil) }
        }
        if let delete = matches(#"^DELETE\s+FROM\s+(?:ONLY\s+)?"# + identifier + #"(?:\s+WHERE\s+(.+))?$"#).first {
            return [.rows(table: name(delete[1]), condition: delete[2].isEmpty ? nil : delete[2])]
        }
        if let alter = matches(#"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?"# + identifier + #"\s+(.*)$"#).first {
            let table = name(alter[1])
            return matchesIn(alter[2], #"DROP\s+COLUMN\s+(?:IF\s+EXISTS\s+)?"# + identifier).map { .column(table: table, column: name($0)) }
        }
        return []
    }

    private static func matchesIn(_ text: String, _ pattern: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) else { return [] }
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    /// Tables whose rows a rollback may drop: `runtime_flags` holds the flags' current state,
    /// which the migrations themselves insert and whose every change is in
    /// `runtime_flag_audit` (which is protected); `background_controls` holds whether
    /// backfills and checks are paused, also rows the migration itself inserts.
    static let notAtRisk: Set<String> = ["runtime_flags", "background_controls"]

    /// Columns that only copy a value kept elsewhere: `logged_sets.program_id` is its
    /// session's program (schema v2 keeps it so a set's link can name the program).
    static let copies: Set<String> = ["logged_sets.program_id"]

    /// How many rows (or non-NULL values of a column) each target would destroy now; targets
    /// already gone count nothing. The names come from the migration files, never from data.
    static func rowsAtRisk(_ targets: [Target], on connection: PGConnection) async throws -> [(Target, Int)] {
        var counted: [(Target, Int)] = []
        for target in targets where !notAtRisk.contains(target.table) {
            guard try await connection.query("SELECT to_regclass(\(target.table)) IS NOT NULL").single().decode(Bool.self, at: 0) else {
                continue
            }
            let sql: String
            switch target {
            case .table(let table): sql = "SELECT count(*) FROM \(table)"
            case .rows(let table, let condition): sql = "SELECT count(*) FROM \(table)" + (condition.map { " WHERE \($0)" } ?? "")
            case .column(let table, let column):
                if Self.copies.contains("\(table).\(column)") { continue }
                let exists = try await connection.query("""
                    SELECT count(*) FROM pg_attribute
                     WHERE attrelid = to_regclass(\(table)) AND attname = \(column) AND NOT attisdropped
                    """).single().decode(Int.self, at: 0) > 0
                guard exists else { continue }
                sql = "SELECT count(*) FROM \(table) WHERE \(column) IS NOT NULL"
            }
            let count = try await connection.query(PGQuery(unsafeSQL: sql)).single().decode(Int.self, at: 0)
            if count > 0 { counted.append((target, count)) }
        }
        return counted
    }
}
