import PostgresDriver

/// A statement met a schema older than the code: a table, column or function that a later
/// migration adds is missing. Said as what to do, not as the SQLSTATE it came with.
public enum NotMigrated {
    /// undefined_table, undefined_function, undefined_column.
    static let sqlStates: Set<String> = ["42P01", "42883", "42703"]

    /// The operator's line for `error`, nil when it is not about a missing migration.
    public static func message(for error: PGError) -> String? {
        guard let sqlState = error.sqlState, sqlStates.contains(sqlState) else { return nil }
        let what = (error.serverMessage ?? error.message).split(whereSeparator: \.isNewline).first.map(String.init) ?? error.message
        return "the database is not migrated to this version of program-versioning (\(what)); "
            + "run program-versioning migrate up first (migrate status shows what is pending)"
    }
}
