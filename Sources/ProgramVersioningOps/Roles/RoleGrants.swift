import Foundation
import PostgresDriver

/// The three roles that use the schema, each with only what it needs (DESIGN.md §5 `roles`).
/// The owner that runs migrations (and `legacy retire`/`restore`, which alter a table) is a
/// fourth, non-superuser role that owns the tables; these GRANTs come from it.
public enum RoleKind: String, Sendable, CaseIterable {
    /// What an app service's library connects as: programs, sessions and versions read and
    /// written, the flags only read (and listened to), save receipts.
    case app
    /// What an operator's CLI connects as: flags flipped and audited, backfills, checks,
    /// repairs, legacy backups; it reads everything.
    case `operator`
    /// What the nightly check connects as: it reads what the check reads and records its
    /// own run, nothing else.
    case nightly
}

/// The GRANTs for each role, as statements to show or apply.
public enum RoleGrants {
    /// One privilege on some tables (names of this schema, never data).
    struct Grant: Sendable {
        var privileges: String
        var tables: [String]
    }

    static let versionTables = ["program_versions", "program_version_workouts", "program_version_exercises", "program_version_schedule"]

    static func grants(for kind: RoleKind) -> [Grant] {
        switch kind {
        case .app:
            [
                Grant(privileges: "SELECT, INSERT, UPDATE", tables: ["programs", "workout_sessions", "user_program_states"]),
                Grant(privileges: "SELECT, INSERT", tables: ["logged_sets"] + versionTables),
                Grant(privileges: "SELECT", tables: ["runtime_flags", "legacy_syncs"]),
                Grant(privileges: "SELECT, INSERT, DELETE", tables: ["save_receipts"]),
                Grant(privileges: "SELECT, INSERT, UPDATE", tables: ["shadow_read_minutes"]),
            ]
        case .operator:
            [
                Grant(privileges: "SELECT", tables: [
                    "programs", "workout_sessions", "logged_sets", "user_program_states", "runtime_flags", "runtime_flag_audit",
                    "check_runs", "backfill_runs", "backfill_reports", "legacy_syncs", "legacy_backups", "legacy_retirements",
                    "goose_db_version", "program_versioning_migration_checksums", "background_controls", "shadow_read_minutes",
                ] + versionTables),
                Grant(privileges: "INSERT", tables: versionTables + ["runtime_flag_audit", "check_runs", "backfill_reports", "legacy_backups"]),
                Grant(privileges: "UPDATE", tables: ["runtime_flags", "programs", "workout_sessions", "logged_sets", "background_controls"]),
                Grant(privileges: "INSERT, UPDATE", tables: ["backfill_runs", "legacy_syncs"]),
                Grant(privileges: "SELECT, INSERT, UPDATE, DELETE", tables: checkProgressTables + ["backfill_run_ranges"]),
            ]
        case .nightly:
            [
                Grant(privileges: "SELECT", tables: [
                    "programs", "workout_sessions", "logged_sets", "runtime_flags", "check_runs", "legacy_syncs", "legacy_retirements",
                    "background_controls", "shadow_read_minutes",
                ] + versionTables),
                Grant(privileges: "INSERT", tables: ["check_runs"]),
                Grant(privileges: "SELECT, INSERT, UPDATE, DELETE", tables: checkProgressTables),
            ]
        }
    }

    /// Where an unfinished check keeps its place (scratch, not evidence: a check resumes
    /// only progress its own login recorded).
    static let checkProgressTables = ["check_progress", "check_progress_findings"]

    /// Functions a role may call: the statistics refresh a backfill or a check runs first
    /// (it analyzes a fixed list of tables as their owner).
    static func functions(for kind: RoleKind) -> [String] {
        switch kind {
        case .app: []
        case .operator, .nightly: ["program_versioning_refresh_statistics(double precision)"]
        }
    }

    /// The statements for `kind`, for the role named `quotedRole` (already an identifier).
    static func statements(for kind: RoleKind, quotedRole role: String) -> [String] {
        var statements = ["GRANT USAGE ON SCHEMA public TO \(role)"]
        for grant in grants(for: kind) {
            statements.append("GRANT \(grant.privileges) ON \(grant.tables.joined(separator: ", ")) TO \(role)")
        }
        for function in functions(for: kind) {
            statements.append("GRANT EXECUTE ON FUNCTION \(function) TO \(role)")
        }
        if kind != .app {
            // The audit's, the reports' and the check findings' ids are identity columns.
            statements.append("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO \(role)")
        }
        return statements
    }

    /// Every statement `apply` would run, with the role names as given (for `roles show`).
    public static func script(app: String, operator: String, nightly: String) -> String {
        RoleKind.allCases.map { kind in
            let name = switch kind {
            case .app: app
            case .operator: `operator`
            case .nightly: nightly
            }
            return "-- \(kind.rawValue): \(summary(kind))\n" + statements(for: kind, quotedRole: name).map { $0 + ";" }.joined(separator: "\n")
        }.joined(separator: "\n\n") + "\n\n" + """
            -- Not applied by roles apply (it takes a superuser): lets backfills and checks see replica lag and
            -- autovacuum, which they wait for (without it they read only what the standbys report).
            -- GRANT pg_monitor TO \(`operator`), \(nightly);

            """
    }

    /// What each role may do, in one line.
    public static func summary(_ kind: RoleKind) -> String {
        switch kind {
        case .app: "programs, sessions, sets, enrollments and versions read and written; flags read; save receipts"
        case .operator: "reads everything; flips flags (audited); backfills, checks, repairs, legacy backups; pauses and resumes them"
        case .nightly: "reads what the check reads; records its own check run and its progress; nothing else"
        }
    }

    /// Applies the GRANTs for existing login roles, all in one transaction. Role names are
    /// quoted by the server (`quote_ident`), never pasted as given.
    public static func apply(app: String, operator: String, nightly: String, pool: PGPool) async throws {
        try await pool.transaction { connection in
            for (kind, name) in [(RoleKind.app, app), (.operator, `operator`), (.nightly, nightly)] {
                let row = try await connection.query("""
                    SELECT quote_ident(\(name)), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = \(name))
                    """).single()
                let (quoted, exists) = try row.decode((String, Bool).self)
                guard exists else {
                    throw PGError(
                        code: .server,
                        message: "role \(name) (for the \(kind.rawValue)) does not exist: create it first (CREATE ROLE ... LOGIN), then apply")
                }
                for statement in statements(for: kind, quotedRole: quoted) {
                    try await connection.query(PGQuery(unsafeSQL: statement))
                }
            }
        }
    }
}
