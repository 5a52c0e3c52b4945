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

    public init(pool: PGPool) {
        self.pool = pool
    }

    public func states() async throws -> [FlagState] {
        let rows = try await pool.query("SELECT name, enabled, percent, updated_at, updated_by FROM runtime_flags ORDER BY name DESC")
        return try rows.compactMap { row in
            let (name, enabled, percent, updatedAt, updatedBy) = try row.decode((String, Bool, Int32, Date, String).self)
            return FlagName(rawValue: name).map {
                FlagState(name: $0, enabled: enabled, percent: Int(percent), updatedAt: updatedAt, updatedBy: updatedBy)
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
    /// unchanged). Throws `FlagChangeRefused` when a rule forbids the flip; nothing changes then.
    @discardableResult
    public func set(
        _ name: FlagName, enabled: Bool, percent: Int? = nil, actor: String, reason: String?, force: Bool
    ) async throws -> (old: FlagState, new: FlagState) {
        try await pool.transaction { connection in
            try await Self.set(name, enabled: enabled, percent: percent, actor: actor, reason: reason, force: force, on: connection)
        }
    }

    /// The same flip inside the caller's transaction on `connection` (for work that must
    /// commit together with it, e.g. `backfill legacy --flag-off`'s last write-back).
    @discardableResult
    public static func set(
        _ name: FlagName, enabled: Bool, percent: Int? = nil, actor: String, reason: String?, force: Bool,
        on connection: PGConnection
    ) async throws -> (old: FlagState, new: FlagState) {
        if let percent, !(0...100).contains(percent) {
            throw FlagChangeRefused(rule: .invalidPercent, message: "percent must be 0-100, got \(percent)", hint: "pass --percent between 0 and 100")
        }
        do {
            try await connection.query("""
                SELECT set_config('lock_timeout', \(lockTimeout), true),
                       set_config('program_versioning.actor', \(actor), true),
                       set_config('program_versioning.reason', \(reason ?? ""), true),
                       set_config('program_versioning.force', \(force ? "on" : "off"), true)
                """)
            // Every row, in name order: two flips of different flags queue up instead of deadlocking.
            let before = try await connection.query("""
                SELECT name, enabled, percent, updated_at, updated_by FROM runtime_flags ORDER BY name FOR UPDATE
                """)
            let old = try before.compactMap { row -> FlagState? in
                let (flag, isOn, share, at, by) = try row.decode((String, Bool, Int32, Date, String).self)
                return FlagName(rawValue: flag).map { FlagState(name: $0, enabled: isOn, percent: Int(share), updatedAt: at, updatedBy: by) }
            }.first { $0.name == name }
            guard let old else { throw FlagMissing(flag: name) }
            let newPercent = name == .reads ? (percent ?? (enabled && !old.enabled ? 100 : old.percent)) : old.percent
            let row = try await connection.query("""
                UPDATE runtime_flags SET enabled = \(enabled), percent = \(newPercent) WHERE name = \(name.rawValue)
                RETURNING updated_at, updated_by
                """).single()
            let (updatedAt, updatedBy) = try row.decode((Date, String).self)
            return (old, FlagState(name: name, enabled: enabled, percent: newPercent, updatedAt: updatedAt, updatedBy: updatedBy))
        } catch let error as PGError {
            if let refused = FlagChangeRefused.from(error) { throw refused }
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
                     WHERE b.name = 'PROGRAM_VERSIONING_LEGACY_READONLY' AND b.id <= a.id ORDER BY b.id DESC LIMIT 1)
              FROM runtime_flag_audit a ORDER BY a.changed_at DESC, a.id DESC LIMIT \(limit)
            """)
        return try rows.map { row in
            let (name, oldEnabled, newEnabled, oldPercent, newPercent, actor, reason, forced, changedAt, login, writes, reads, readOnly) =
                try row.decode((String, Bool?, Bool, Int32?, Int32, String, String?, Bool, Date, String?, Bool?, Bool?, Bool?).self)
            let after = FlagSnapshot(writes: writes ?? false, reads: reads ?? false, legacyReadOnly: readOnly ?? false)
            return FlagAuditEntry(
                name: name, oldEnabled: oldEnabled, newEnabled: newEnabled, oldPercent: oldPercent.map(Int.init),
                newPercent: Int(newPercent), actor: actor, login: login, reason: reason, forced: forced, changedAt: changedAt,
                phaseAfter: after.phase)
        }
    }
}
