import Foundation
import PostgresDriver
import RuntimeFlags

/// One flag as stored.
public struct FlagState: Sendable, Hashable {
    public var name: FlagName
    public var enabled: Bool
    public var percent: Int
    public var updatedAt: Date
    public var updatedBy: String
    /// How old the clean check a flip of this flag relies on may be (its gate's evidence).
    public var maxCheckAge: Duration = FlagStore.defaultMaxCheckAge
}

/// One audited flip.
public struct FlagAuditEntry: Sendable, Hashable {
    public var name: String
    public var oldEnabled: Bool?
    public var newEnabled: Bool
    public var oldPercent: Int?
    public var newPercent: Int
    /// Who the flip said it was (`--actor`, any text).
    public var actor: String
    /// The role that was logged in (`session_user`): the database's word, which no client
    /// chooses. Nil for flips audited before migration 18.
    public var login: String?
    public var reason: String?
    public var forced: Bool
    public var changedAt: Date
    /// The rollout phase the flags made right after this flip (DESIGN.md §1).
    public var phaseAfter: Int?
    /// The flag's max check age after this flip, when the flip changed it.
    public var newMaxCheckAge: Duration?
}

/// The runtime flag store in PostgreSQL: what ops read and flip. The rules and the audit
/// live in the database (migrations 13 and 17), so every writer is held to them.
public struct FlagStore: Sendable {
    private let pool: PGPool
    /// How long a flip waits for a lock: the other flags' rows, and for
    /// PROGRAM_VERSIONING_LEGACY_READONLY the saves in flight. New saves queue behind a
    /// waiting flip, so this also bounds how long they can be held up.
    static let lockTimeout = "2s"
    /// `lockTimeout` for other work that takes the phase lock (as a `lock_timeout` setting).
    public static var lockTimeoutSetting: String { lockTimeout }
    /// The max check age a flag starts with (migration 22).
    public static let defaultMaxCheckAge: Duration = .seconds(24 * 3600)

    public init(pool: PGPool) {
        self.pool = pool
    }

    public func states() async throws -> [FlagState] {
        try Self.states(in: await pool.query(Self.selectStates(locking: false)))
    }

    /// Every flag's row; `locking`: FOR UPDATE, in name order (two flips of different flags
    /// then queue up instead of deadlocking).
    static func selectStates(locking: Bool) -> PGQuery {
        PGQuery(unsafeSQL: """
            SELECT name, enabled, percent, updated_at, updated_by, extract(epoch FROM max_check_age)::float8
              FROM runtime_flags ORDER BY name \(locking ? "FOR UPDATE" : "DESC")
            """)
    }

    static func states(in rows: PGResult) throws -> [FlagState] {
        try rows.compactMap { row in
            let (name, enabled, percent, updatedAt, updatedBy, maxAge) = try row.decode((String, Bool, Int32, Date, String, Double).self)
            return FlagName(rawValue: name).map {
                FlagState(
                    name: $0, enabled: enabled, percent: Int(percent), updatedAt: updatedAt, updatedBy: updatedBy,
                    maxCheckAge: .milliseconds(Int64((maxAge * 1000).rounded())))
            }
        }
    }

    /// Every flag as one snapshot.
    public func snapshot() async throws -> FlagSnapshot {
        let states = try await states()
        let writes = states.first { $0.name == .writes }
        let reads = states.first { $0.name == .reads }
        let legacyReadOnly = states.first { $0.name == .legacyReadOnly }
        return FlagSnapshot(
            writes: writes?.enabled ?? false, reads: reads?.enabled ?? false, readPercent: reads?.percent ?? 0,
            legacyReadOnly: legacyReadOnly?.enabled ?? false)
    }

    /// Flips one flag. `percent` applies to READS (nil: 100 when turning it on, else
    /// unchanged); `maxCheckAge` (nil: unchanged) is stored on the flag's row and judges
    /// this flip's evidence already. Throws `FlagChangeRefused` when a rule forbids the
    /// flip; nothing changes then.
    @discardableResult
    public func set(
        _ name: FlagName, enabled: Bool, percent: Int? = nil, maxCheckAge: Duration? = nil, actor: String, reason: String?, force: Bool
    ) async throws -> (old: FlagState, new: FlagState) {
        let change = FlagChange(name: name, enabled: enabled, percent: percent, maxCheckAge: maxCheckAge, actor: actor, reason: reason, force: force)
        return try await pool.transaction { connection in try await Self.apply(change, on: connection) }
    }

    /// The flip's verdict without the flip: the same statement, the same rules in the
    /// database, then a rollback. Nothing changes and nothing is audited. A dry run of
    /// PROGRAM_VERSIONING_LEGACY_READONLY waits for the saves in flight as the flip would
    /// (at most the flip's lock timeout, holding new saves back meanwhile).
    public func dryRun(
        _ name: FlagName, enabled: Bool, percent: Int? = nil, maxCheckAge: Duration? = nil, actor: String, reason: String?, force: Bool
    ) async throws -> FlagDryRun {
        let change = FlagChange(name: name, enabled: enabled, percent: percent, maxCheckAge: maxCheckAge, actor: actor, reason: reason, force: force)
        return try await pool.withConnection { connection in
            try await connection.query("BEGIN")
            do {
                let before = try Self.states(in: await connection.query(Self.selectStates(locking: false)))
                var verdict: Result<FlagState, FlagChangeRefused>
                do {
                    verdict = .success(try await Self.apply(change, on: connection).new)
                } catch let refused as FlagChangeRefused {
                    verdict = .failure(refused)
                }
                let evidence = try await FlagGateEvidence.load(on: connection)
                try await connection.query("ROLLBACK")
                return FlagDryRun(change: change, before: before, verdict: verdict, evidence: evidence)
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    /// The same flip inside the caller's transaction on `connection` (for work that must
    /// commit together with it, e.g. `backfill legacy --flag-off`'s last write-back).
    @discardableResult
    public static func set(
        _ name: FlagName, enabled: Bool, percent: Int? = nil, actor: String, reason: String?, force: Bool,
        on connection: PGConnection
    ) async throws -> (old: FlagState, new: FlagState) {
        try await apply(
            FlagChange(name: name, enabled: enabled, percent: percent, maxCheckAge: nil, actor: actor, reason: reason, force: force),
            on: connection)
    }

    static func apply(_ change: FlagChange, on connection: PGConnection) async throws -> (old: FlagState, new: FlagState) {
        let name = change.name
        if let percent = change.percent, !(0...100).contains(percent) {
            throw FlagChangeRefused(rule: .invalidPercent, message: "percent must be 0-100, got \(percent)", hint: "pass --percent between 0 and 100")
        }
        if let age = change.maxCheckAge, age <= .zero {
            throw FlagChangeRefused(rule: .invalidMaxCheckAge, message: "the max check age must be longer than zero", hint: "pass e.g. --max-check-age 24h")
        }
        do {
            // A savepoint: a refused flip leaves the caller's transaction usable (a dry run reads on after it).
            try await connection.query("SAVEPOINT pv_flag_change")
            try await connection.query("""
                SELECT set_config('lock_timeout', \(lockTimeout), true),
                       set_config('program_versioning.actor', \(change.actor), true),
                       set_config('program_versioning.reason', \(change.reason ?? ""), true),
                       set_config('program_versioning.force', \(change.force ? "on" : "off"), true)
                """)
            let old = try states(in: await connection.query(selectStates(locking: true))).first { $0.name == name }
            guard let old else { throw FlagMissing(flag: name) }
            let newPercent = name == .reads ? (change.percent ?? (change.enabled && !old.enabled ? 100 : old.percent)) : old.percent
            let seconds = change.maxCheckAge.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
            let row = try await connection.query("""
                UPDATE runtime_flags
                   SET enabled = \(change.enabled), percent = \(newPercent),
                       max_check_age = coalesce(\(seconds) * interval '1 second', max_check_age)
                 WHERE name = \(name.rawValue)
                RETURNING updated_at, updated_by, extract(epoch FROM max_check_age)::float8
                """).single()
            let (updatedAt, updatedBy, maxAge) = try row.decode((Date, String, Double).self)
            try await connection.query("RELEASE SAVEPOINT pv_flag_change")
            return (old, FlagState(
                name: name, enabled: change.enabled, percent: newPercent, updatedAt: updatedAt, updatedBy: updatedBy,
                maxCheckAge: .milliseconds(Int64((maxAge * 1000).rounded()))))
        } catch let error as PGError {
            _ = try? await connection.query("ROLLBACK TO SAVEPOINT pv_flag_change")
            if let refused = FlagChangeRefused.from(error) { throw refused }
            throw error
        } catch {
            _ = try? await connection.query("ROLLBACK TO SAVEPOINT pv_flag_change")
            throw error
        }
    }

    /// The audit trail, newest first, each flip with the phase it left the rollout in.
    public func history(limit: Int = 100) async throws -> [FlagAuditEntry] {
        // A flag's value after a flip is its newest audit row up to that flip (rows are
        // numbered in commit order: flips serialize on the flag rows); none yet means off.
        let rows = try await pool.query("""
            SELECT a.name, a.old_enabled, a.new_enabled, a.old_percent, a.new_percent, a.actor, a.reason, a.forced, a.changed_at, a.login,
                   (SELECT b.new_enabled FROM runtime_flag_audit b
                     WHERE b.name = 'PROGRAM_VERSIONING_WRITES' AND b.id <= a.id ORDER BY b.id DESC LIMIT 1),
                   (SELECT b.new_enabled FROM runtime_flag_audit b
                     WHERE b.name = 'PROGRAM_VERSIONING_READS' AND b.id <= a.id ORDER BY b.id DESC LIMIT 1),
                   (SELECT b.new_enabled FROM runtime_flag_audit b
                     WHERE b.name = 'PROGRAM_VERSIONING_LEGACY_READONLY' AND b.id <= a.id ORDER BY b.id DESC LIMIT 1),
                   CASE WHEN a.old_max_check_age IS DISTINCT FROM a.new_max_check_age
                        THEN extract(epoch FROM a.new_max_check_age)::float8 END
              FROM runtime_flag_audit a ORDER BY a.changed_at DESC, a.id DESC LIMIT \(limit)
            """)
        return try rows.map { row in
            let (name, oldEnabled, newEnabled, oldPercent, newPercent, actor, reason, forced, changedAt, login, writes, reads, readOnly) =
                try row.decode((String, Bool?, Bool, Int32?, Int32, String, String?, Bool, Date, String?, Bool?, Bool?, Bool?).self)
            let newMaxAge = try row.decode(Double?.self, at: 13)
            let after = FlagSnapshot(writes: writes ?? false, reads: reads ?? false, legacyReadOnly: readOnly ?? false)
            return FlagAuditEntry(
                name: name, oldEnabled: oldEnabled, newEnabled: newEnabled, oldPercent: oldPercent.map(Int.init),
                newPercent: Int(newPercent), actor: actor, login: login, reason: reason, forced: forced, changedAt: changedAt,
                phaseAfter: after.phase, newMaxCheckAge: newMaxAge.map { .milliseconds(Int64(($0 * 1000).rounded())) })
        }
    }
}
