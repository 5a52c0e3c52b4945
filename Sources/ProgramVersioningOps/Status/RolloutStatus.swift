import Foundation
import PostgresDriver
import RuntimeFlags

/// Where the rollout stands (`program-versioning status`): the phase and the flags, the
/// evidence the gates judge, the background runs, who follows the flag store, and the next
/// step. Read-only: it takes no lock and changes nothing.
public struct RolloutStatus: Sendable {
    /// The newest finished check of every program, whoever recorded it.
    public struct LastCheck: Sendable {
        public var runID: UUID
        public var finishedAt: Date
        public var age: Duration
        public var clean: Bool
        public var differenceCount: Int
        public var countsByKind: [String: Int]
        public var recordedBy: String?
        /// Nil when this run is what the next gate can rely on, else why not.
        public var notEvidenceBecause: String?
    }

    /// The app instances following the flag store now (their listening connections).
    public struct Followers: Sendable {
        public var count: Int
        /// Their application names, as the apps set them.
        public var applications: [String]
    }

    public var phase: Int
    public var flags: [FlagState]
    public var lastCheck: LastCheck?
    public var evidence: FlagGateEvidence
    public var backfill: BackfillStatus
    public var followers: Followers
    public var shadowReads: ShadowReadSummary?
    public var legacyRetired: Bool
    /// When PROGRAM_VERSIONING_WRITES last went on, and the last successful backfill of each kind.
    public var writesTurnedOnAt: Date?
    public var lastSucceededBackfill: [BackfillKind: Date]
    public var nextStep: NextStep
    public var readAt: Date

    public func flag(_ name: FlagName) -> FlagState? { flags.first { $0.name == name } }

    public static func load(pool: PGPool, shadowReadWindow: Duration = .seconds(3_600)) async throws -> RolloutStatus {
        let flags = try await FlagStore(pool: pool).states()
        let snapshot = FlagSnapshot(
            writes: flags.first { $0.name == .writes }?.enabled ?? false, reads: flags.first { $0.name == .reads }?.enabled ?? false,
            legacyReadOnly: flags.first { $0.name == .legacyReadOnly }?.enabled ?? false)
        // Only the gate ahead is judged: each judgment reads every program once.
        let gate: FlagName? =
            switch snapshot.phase {
            case 2, 3: .reads
            case 4: (flags.first { $0.name == .reads }?.percent ?? 0) < 100 ? .reads : .legacyReadOnly
            default: nil
            }
        let (evidence, lastCheck, followers, retired, writesOnAt, succeeded) = try await pool.withConnection { connection in
            let evidence = try await FlagGateEvidence.load(gates: gate.map { [$0] } ?? [], on: connection)
            let lastCheck = try await Self.lastCheck(gate: gate.flatMap { evidence.gate($0) }, trusted: evidence.lastTrustedCleanCheck, on: connection)
            let followers = try await Self.followers(on: connection)
            let retired = try await connection.query("SELECT EXISTS (SELECT 1 FROM legacy_retirements WHERE restored_at IS NULL)")
                .single().decode(Bool.self, at: 0)
            let writesOnAt = try await connection.query("""
                SELECT max(changed_at) FROM runtime_flag_audit
                 WHERE name = 'PROGRAM_VERSIONING_WRITES' AND new_enabled AND NOT coalesce(old_enabled, false)
                """).single().decode(Date?.self, at: 0)
            let succeeded = try await connection.query("""
                SELECT kind, max(finished_at) FROM backfill_runs WHERE status = 'SUCCEEDED' AND NOT dry_run GROUP BY kind
                """).map { try $0.decode((BackfillKind, Date).self) }
            return (evidence, lastCheck, followers, retired, writesOnAt, Dictionary(succeeded, uniquingKeysWith: max))
        }
        let backfill = try await BackfillStatus.load(pool: pool, limit: 6)
        let shadowReads = try await ShadowReadSummary.load(pool: pool, window: shadowReadWindow)
        var status = RolloutStatus(
            phase: snapshot.phase, flags: flags, lastCheck: lastCheck, evidence: evidence, backfill: backfill, followers: followers,
            shadowReads: shadowReads, legacyRetired: retired, writesTurnedOnAt: writesOnAt, lastSucceededBackfill: succeeded, nextStep: NextStep(allowed: false, command: nil, reason: nil, then: nil),
            readAt: Date())
        status.nextStep = NextStep.after(status)
        return status
    }

    private static func lastCheck(gate: FlagGateEvidence.Gate?, trusted: FlagGateEvidence.CleanCheck?, on connection: PGConnection) async throws -> LastCheck? {
        try await connection.query("""
            SELECT r.id, r.finished_at, extract(epoch FROM now() - r.finished_at)::float8, r.status = 'CLEAN', r.difference_count,
                   r.counts_by_kind::text, r.recorded_by,
                   r.recorded_by IS NOT NULL AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.recorded_by)
                     AND has_table_privilege(r.recorded_by, 'runtime_flags', 'UPDATE')
              FROM check_runs r
             WHERE r.finished_at IS NOT NULL AND r.user_filter IS NULL AND r.status IN ('CLEAN', 'DIFFERENCES')
             ORDER BY r.finished_at DESC LIMIT 1
            """).first.map { row in
            let (id, finishedAt, age, clean, count, countsText, recordedBy, byOperator) =
                try row.decode((UUID, Date, Double, Bool, Int, String, String?, Bool).self)
            let counts = (try? JSONSerialization.jsonObject(with: Data(countsText.utf8)) as? [String: Int]) ?? [:]
            var why: String?
            if !clean {
                why = "it found \(count) differences"
            } else if !byOperator {
                why = "it was recorded by \(recordedBy ?? "an unknown role"), a role that may not flip flags: a report, not evidence"
            } else if let gate, let missing = gate.missing {
                why = missing
            } else if gate == nil, trusted?.runID != id {
                why = "not the newest clean operator check"
            }
            return LastCheck(
                runID: id, finishedAt: finishedAt, age: .seconds(max(0, age)), clean: clean, differenceCount: count, countsByKind: counts,
                recordedBy: recordedBy, notEvidenceBecause: why)
        }
    }

    private static func followers(on connection: PGConnection) async throws -> Followers {
        let names = try await connection.query("""
            SELECT application_name FROM pg_stat_activity
             WHERE datname = current_database() AND starts_with(query, \(DatabaseFlagSource.followerQueryMarker))
             ORDER BY 1
            """).map { try $0.decode(String.self, at: 0) }
        return Followers(count: names.count, applications: Array(Set(names)).sorted())
    }
}
