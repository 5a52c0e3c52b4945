import Foundation
import Logging
import Metrics
import PostgresDriver
import ProgramDomain
import RuntimeFlags
import ServiceLifecycle
import Synchronization

/// What app services call to read and save training programs during the migration.
///
/// Every save writes the legacy JSON and, while `PROGRAM_VERSIONING_WRITES` is on, the next
/// immutable version, in one transaction. Reads come from the versioned tables for the
/// users `PROGRAM_VERSIONING_READS` covers, else from legacy; a program without a current
/// version is served from legacy, so no read ever fails because of the migration. In phase
/// 5 (`PROGRAM_VERSIONING_LEGACY_READONLY`) saves write only the next version and every
/// read comes from versions; what a save writes follows the flag as the database holds it
/// at that moment, so an instance that has not seen a flip yet still writes the right side.
/// Each call reads the flags once and uses that snapshot throughout.
public final class ProgramRepository: Sendable, Service {
    private let pool: PGPool
    private let flags: any FlagSource
    private let logger: Logger
    /// Decoded versions by version id (versions never change).
    private let cache: BoundedCache<UUID, Program>
    /// The owner and newest version this instance saw of each program, by program id: only
    /// a hint for the phase-5 fast path, which the database checks.
    private let latest: BoundedCache<UUID, KnownProgram>

    private struct KnownProgram: Sendable {
        var userID: UUID
        var latest: ProgramHead.Latest
    }
    private let metrics: RepositoryMetrics
    private let shadow: ShadowReads
    /// Sampled reads queued or being compared; at most `shadow.maxInFlight`.
    private let shadowInFlight = Atomic<Int>(0)
    /// Sampled reads for `run()` to compare.
    private let shadowQueue = AsyncStream.makeStream(of: StoredProgram.self)
    private let running = Atomic<Bool>(false)
    /// Per-minute counts for `shadow_read_minutes`, when `shadow.recording` asks for them.
    private let ledger: ShadowReadLedger?

    /// - Parameters:
    ///   - versionCacheCapacity: decoded versions kept in memory. Versions never change, so
    ///     a cached one is always right; 0 turns the cache off.
    ///   - shadowReads: compare a sample of reads with the other side (off by default).
    ///   - metricsFactory: where counters and timers go; the bootstrapped system by default.
    public init(
        pool: PGPool, flags: any FlagSource, logger: Logger, versionCacheCapacity: Int = 10_000,
        shadowReads: ShadowReads = .off, metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.pool = pool
        self.flags = flags
        self.logger = logger
        self.cache = BoundedCache(capacity: versionCacheCapacity)
        self.latest = BoundedCache(capacity: versionCacheCapacity)
        self.shadow = shadowReads
        self.ledger = shadowReads.recording.map(ShadowReadLedger.init(recording:))
        self.metrics = RepositoryMetrics(factory: metricsFactory)
    }

    deinit {
        shadowQueue.continuation.finish()
    }

    /// Runs the sampled shadow comparisons (see `ShadowReads`) until the task is cancelled
    /// or the service group shuts down gracefully (comparisons under way then finish).
    /// Reads and saves never need it; without it, sampled reads are skipped and counted.
    /// Run it once: a second `run()` logs an error and only waits.
    public func run() async {
        guard !running.exchange(true, ordering: .relaxed) else {
            logger.error("ProgramRepository.run() called while it already runs; this call does nothing")
            try? await gracefulShutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            if let ledger {
                group.addTask { await ledger.run(flushingTo: self.pool, logger: self.logger) }
            }
            for await served in shadowQueue.stream.cancelOnGracefulShutdown() {
                group.addTask { await self.compareShadow(served) }
            }
            ledger?.stop()
        }
        // What the comparisons that finished last added.
        if let ledger, !Task.isCancelled {
            var failing = false
            await ledger.flush(to: pool, logger: logger, failing: &failing)
        }
    }

    // MARK: Reading

    /// The program, from versions or legacy as the flags decide for its user.
    public func program(_ id: UUID) async throws(RepositoryError) -> StoredProgram {
        let flags = self.flags.current()
        let started = ContinuousClock.now
        defer { metrics.readDuration.recordNanoseconds(started.nanosecondsElapsed) }
        let served: StoredProgram
        do {
            served = try await servedRead(id, flags: flags)
        } catch {
            // A failed read counts against the side the flags sent it to first.
            if case .programNotFound = error {} else {
                ledger?.record { flags.writes && flags.reads ? ($0.versionedReadErrors += 1) : ($0.legacyReadErrors += 1) }
            }
            throw error
        }
        let milliseconds = Double(started.nanosecondsElapsed) / 1e6
        ledger?.record { tally in
            switch served.source {
            case .versions: tally.versionedReads += 1; tally.versionedReadMilliseconds += milliseconds
            case .legacy: tally.legacyReads += 1; tally.legacyReadMilliseconds += milliseconds
            }
        }
        (served.source == .versions ? metrics.versionReads : metrics.legacyReads).increment()
        // In phase 5 legacy is expected to lag the versions: nothing to compare.
        if flags.writes, !flags.legacyReadOnly { startShadowRead(of: served) }
        return served
    }

    private func servedRead(_ id: UUID, flags: FlagSnapshot) async throws(RepositoryError) -> StoredProgram {
        try await run { connection in
            guard flags.writes, flags.reads else { return try await self.legacyRead(id, on: connection) }
            switch try await self.versionedRead(id, on: connection, if: flags.readsVersions(for:)) {
            case .served(let stored):
                return stored
            case .notWanted:
                return try await self.legacyRead(id, on: connection)
            case .noVersion:
                self.metrics.missingVersionFallbacks.increment()
                self.ledger?.record { $0.fallbacks += 1 }
                return try await self.legacyRead(id, on: connection)
            case .staleVersion(let version):
                // The legacy row changed after this version was written: serve what is current.
                self.metrics.staleVersionFallbacks.increment()
                self.ledger?.record { $0.fallbacks += 1 }
                self.logger.warning("version is older than the legacy row; serving legacy", metadata: ["program": "\(id)", "version": "\(version)"])
                return try await self.legacyRead(id, on: connection)
            }
        }
    }

    private enum VersionedRead {
        case served(StoredProgram)
        /// The user is not among those whose reads come from versions.
        case notWanted
        case noVersion
        case staleVersion(Int)
    }

    /// The current version when `wanted` for the program's user and it is the program as it
    /// is now (see `ProgramHead.versionIsCurrent`); one query when the version is cached.
    private func versionedRead(
        _ id: UUID, on connection: PGConnection, if wanted: (UUID) -> Bool = { _ in true }
    ) async throws -> VersionedRead {
        guard let head = try await ProgramHead.load(id, on: connection) else { throw RepositoryError.programNotFound(id) }
        guard wanted(head.userID) else { return .notWanted }
        guard let latest = head.latest else { return .noVersion }
        guard head.versionIsCurrent else { return .staleVersion(latest.version) }
        let program = try await versionContent(latest.id, of: id, on: connection)
        self.latest.store(KnownProgram(userID: head.userID, latest: latest), for: id)
        return .served(StoredProgram(
            id: id, userID: head.userID, program: program, revision: head.revision, version: latest.version, source: .versions))
    }

    /// Queues a comparison of `served` with the other side, when sampled and while fewer
    /// than `maxInFlight` are queued or running (see `ShadowReads` for the bound).
    private func startShadowRead(of served: StoredProgram) {
        guard shadow.sampleRate > 0, Double.random(in: 0..<1) < shadow.sampleRate else { return }
        guard shadowInFlight.add(1, ordering: .relaxed).newValue <= shadow.maxInFlight else {
            shadowInFlight.subtract(1, ordering: .relaxed)
            metrics.shadowSkipped.increment()
            ledger?.record { $0.skipped += 1 }
            return
        }
        shadowQueue.continuation.yield(served)
    }

    /// Compares one sampled read with the other side (on the repository's `run()`).
    private func compareShadow(_ served: StoredProgram) async {
        defer { shadowInFlight.subtract(1, ordering: .relaxed) }
        do {
            let other: StoredProgram? = try await pool.withConnection { connection in
                switch served.source {
                case .versions: return try await self.legacyRead(served.id, on: connection)
                case .legacy:
                    guard case .served(let stored) = try await self.versionedRead(served.id, on: connection) else { return nil }
                    return stored
                }
            }
            guard let other else { return }
            metrics.shadowComparisons.increment()
            let differences = served.program.differences(from: other.program)
            ledger?.record { tally in
                tally.compared += 1
                if !differences.isEmpty { tally.mismatched += 1 }
                for difference in differences.prefix(5) { tally.addPath(difference.path) }
            }
            guard !differences.isEmpty else { return }
            metrics.shadowMismatches.increment()
            logger.warning("shadow read mismatch", metadata: [
                "program": "\(served.id)", "served": "\(served.source.rawValue)",
                "differences": "\(differences.prefix(5).map(\.description))",
            ])
            shadow.onMismatch?(ShadowMismatch(programID: served.id, served: served.source, differences: differences))
        } catch {
            ledger?.record { $0.shadowErrors += 1 }
            logger.warning("shadow read failed", metadata: ["program": "\(served.id)", "error": "\(error)"])
        }
    }

    /// One version of a program, for history and audit.
    public func program(_ id: UUID, version: Int) async throws(RepositoryError) -> Program {
        try await run { connection in
            let rows = try await connection.query("""
                SELECT v.id FROM program_versions v WHERE v.program_id = \(id) AND v.version = \(version)
                """)
            guard let row = rows.first else {
                let exists = try await connection.query("SELECT 1 FROM programs WHERE id = \(id)").first != nil
                throw exists ? RepositoryError.versionNotFound(programID: id, version: version) : RepositoryError.programNotFound(id)
            }
            return try await self.versionContent(try row.decode(UUID.self, at: 0), of: id, on: connection)
        }
    }

    /// Every version of a program, oldest first.
    public func versions(of id: UUID) async throws(RepositoryError) -> [VersionSummary] {
        try await run { connection in
            let rows = try await connection.query("""
                SELECT version, id, created_at, created_by, content_checksum
                  FROM program_versions WHERE program_id = \(id) ORDER BY version
                """)
            if rows.isEmpty, try await connection.query("SELECT 1 FROM programs WHERE id = \(id)").first == nil {
                throw RepositoryError.programNotFound(id)
            }
            return try rows.map { row in
                let (version, versionID, createdAt, createdBy, checksum) = try row.decode((Int32, UUID, Date, String, String).self)
                return VersionSummary(version: Int(version), id: versionID, createdAt: createdAt, createdBy: createdBy, checksum: checksum)
            }
        }
    }

    /// The program from its legacy JSON, unless a version is ahead of that JSON (saved in
    /// phase 5 and not written back) or legacy is read-only: then the version is the program,
    /// whatever flags this instance has seen, so no read ever serves what phase 5 left behind.
    private func legacyRead(_ id: UUID, on connection: PGConnection) async throws -> StoredProgram {
        guard let head = try await ProgramHead.load(id, .withLegacyJSON, on: connection) else {
            throw RepositoryError.programNotFound(id)
        }
        guard let json = head.legacyJSON else {
            guard let latest = head.latest else { throw RepositoryError.programNotFound(id) }
            let program = try await versionContent(latest.id, of: id, on: connection)
            self.latest.store(KnownProgram(userID: head.userID, latest: latest), for: id)
            return StoredProgram(
                id: id, userID: head.userID, program: program, revision: head.revision, version: latest.version, source: .versions)
        }
        let program: Program
        do {
            program = try Program(legacyJSON: json.bytes)
        } catch {
            throw RepositoryError.unreadableLegacy(programID: id, error)
        }
        // The legacy JSON written with the latest version is that version's content: the
        // next save of it can then be the one-statement one (`optimisticSave`).
        if let latest = head.latest, head.legacyHoldsLatest, cache[latest.id] == nil, program.canonicalChecksum == latest.checksum {
            cache.store(program, for: latest.id)
            self.latest.store(KnownProgram(userID: head.userID, latest: latest), for: id)
        }
        return StoredProgram(
            id: id, userID: head.userID, program: program, revision: head.revision, version: head.latest?.version, source: .legacy)
    }

    private func versionContent(_ versionID: UUID, of id: UUID, on connection: PGConnection) async throws -> Program {
        if let cached = cache[versionID] {
            metrics.versionCacheHits.increment()
            return cached
        }
        let program = try await VersionContent.load(versionID: versionID, of: id, on: connection)
        cache.store(program, for: versionID)
        return program
    }

    // MARK: Writing

    /// Stores a new program for `userID`, and its first version while WRITES is on.
    ///
    /// In phase 5 too the program gets its legacy row, written from its first version, so a
    /// rollback can serve it; after `legacy retire` the row carries no JSON.
    public func create(_ program: Program, for userID: UUID, id: UUID = UUID()) async throws(RepositoryError) -> StoredProgram {
        let flags = self.flags.current()
        let reconciled = program.reconciled(with: Program(name: program.name, workouts: [], schedule: [])).program
        do {
            try reconciled.validate()
        } catch {
            metrics.refusedSaves.increment()
            throw .invalidProgram(error)
        }
        return try await run { connection in
            try await connection.transaction { connection in
                try await connection.query(LegacyWriterLock.enter())
                // A statement of its own, after the lock: it sees the flag as it is now.
                let row = try await connection.query("""
                    SELECT i.revision, i.legacy_written,
                           (SELECT enabled FROM runtime_flags WHERE name = 'PROGRAM_VERSIONING_LEGACY_READONLY')
                      FROM program_versioning_insert_program(\(id), \(userID), \(PGJSONB(reconciled.legacyJSONText))) i
                    """).single()
                let (inserted, legacyWritten, legacyReadOnly) = try row.decode((String, Bool, Bool?).self)
                guard flags.writes || legacyReadOnly == true else {
                    return StoredProgram(id: id, userID: userID, program: reconciled, revision: Revision(inserted), version: nil, source: .legacy)
                }
                let write = ProgramWrite(
                    programID: id, program: reconciled, checksum: reconciled.canonicalChecksum, writeLegacy: false,
                    version: 1, currentLegacyRevision: inserted, writtenToLegacy: legacyWritten, createdBy: "save")
                if let versionID = try await write.run(on: connection).versionID {
                    self.cache.store(reconciled, for: versionID)
                    self.latest.store(
                        KnownProgram(userID: userID, latest: ProgramHead.Latest(id: versionID, version: 1, checksum: reconciled.canonicalChecksum)),
                        for: id)
                }
                let revision = legacyWritten ? Revision(inserted) : Revision("\(inserted)/v1")
                return StoredProgram(id: id, userID: userID, program: reconciled, revision: revision, version: 1, source: .versions)
            }
        }
    }

    /// Saves an edited program.
    ///
    /// Validates it (refusing with every violation), gives its workouts and exercises the
    /// ids of the ones they continue (see `Program.reconciled(with:)`), then writes the
    /// legacy JSON and, while WRITES is on, the next version, in one transaction. Content
    /// equal to what is stored writes nothing. `expectedRevision` is the `revision` of the
    /// read the edit started from: if anyone saved since, the save fails with `.conflict`.
    ///
    /// `idempotencyKey`: a key the app makes once per edit and sends again with every retry
    /// of it. If the connection is lost while the save commits, the save throws
    /// `.outcomeUnknown`; retried with the same key, it returns the first outcome
    /// (`replayed`) if that one committed, and saves otherwise. Without a key, the app must
    /// re-read the program to learn what happened.
    public func save(
        _ program: Program, to id: UUID, expectedRevision: Revision, idempotencyKey: UUID? = nil
    ) async throws(RepositoryError) -> SaveResult {
        do {
            let result = try await saveOnce(program, to: id, expectedRevision: expectedRevision, idempotencyKey: idempotencyKey)
            ledger?.record { $0.saves += 1 }
            return result
        } catch {
            // What the app did wrong (a conflict, an invalid edit) is no error of a side.
            switch error {
            case .database, .outcomeUnknown, .unexpected, .unreadableVersion: ledger?.record { $0.saveErrors += 1 }
            default: break
            }
            throw error
        }
    }

    private func saveOnce(
        _ program: Program, to id: UUID, expectedRevision: Revision, idempotencyKey: UUID?
    ) async throws(RepositoryError) -> SaveResult {
        do {
            // One statement when this instance knows the program's latest version (phases 2-5);
            // the locking path when that statement finds anything other than it assumed.
            let flags = self.flags.current()
            if flags.legacyReadOnly || flags.writes,
               let saved = try await optimisticSave(
                program, to: id, expectedRevision: expectedRevision, idempotencyKey: idempotencyKey, dualWrite: !flags.legacyReadOnly) {
                return saved
            }
            return try await save(id, expectedRevision: expectedRevision, idempotencyKey: idempotencyKey) { _, _ in (program, Bool?.none) }
                .result
        } catch {
            if case .database(let cause) = error, cause.code == .commitOutcomeUnknown {
                throw .outcomeUnknown(programID: id, idempotencyKey: idempotencyKey)
            }
            throw error
        }
    }

    /// Deletes receipts of saves made with an idempotency key longer ago than `age`
    /// (retries come within minutes; a day is plenty). Returns how many were deleted.
    @discardableResult
    public func pruneSaveReceipts(olderThan age: Duration = .seconds(86_400)) async throws(RepositoryError) -> Int {
        let seconds = Double(age.components.seconds)
        return try await run { connection in
            try await connection.query("DELETE FROM save_receipts WHERE saved_at < now() - \(seconds) * interval '1 second'").affectedRows
        }
    }

    /// The optimistic save: one statement, no transaction of its own, when this instance
    /// knows the program's latest version and holds its content. The statement locks the
    /// row, checks the revision, the latest version and the database's LEGACY_READONLY (on
    /// in phase 5; off in a dual write, whose legacy JSON must still be the one written with
    /// that version), and writes the legacy JSON (dual write) and the next version, or
    /// nothing; nil then, and the caller takes the locking path, which decides (and reports
    /// a conflict, an invalid program or an unchanged one) as always.
    private func optimisticSave(
        _ edited: Program, to id: UUID, expectedRevision: Revision, idempotencyKey: UUID?, dualWrite: Bool
    ) async throws(RepositoryError) -> SaveResult? {
        guard let known = latest[id], let current = cache[known.latest.id] else { return nil }
        metrics.versionCacheHits.increment()
        let started = ContinuousClock.now
        let reconciliation = edited.reconciled(with: current)
        let program = reconciliation.program
        guard program.violations.isEmpty else { return nil }
        let checksum = program.canonicalChecksum
        guard checksum != known.latest.checksum else { return nil }
        let version = known.latest.version + 1
        // Phase 5 leaves the row untouched: its revision is the part before the version number.
        let legacyRevision = expectedRevision.token.split(separator: "/", maxSplits: 1).first.map(String.init) ?? expectedRevision.token
        let newRevision = Revision("\(legacyRevision)/v\(version)")
        let write = ProgramWrite(
            programID: id, program: program, checksum: checksum, writeLegacy: dualWrite, version: version,
            currentLegacyRevision: "", writtenToLegacy: dualWrite, createdBy: "save",
            onlyIf: ProgramWrite.Guard(
                revision: expectedRevision, latestVersionID: known.latest.id, idempotencyKey: idempotencyKey, newRevision: newRevision,
                writesLegacy: dualWrite))
        let outcome: ProgramWrite.Outcome
        do {
            outcome = try await pool.repositoryCall { try await write.run(on: $0) }
        } catch {
            guard case .database(let cause) = error else { throw error }
            // A save that committed first (the version number or the key is taken): decided on the locking path.
            if cause.sqlState == "23505" { return nil }
            // The statement commits on its own: lost on the way, it may have.
            if cause.isConnectionLoss { throw .outcomeUnknown(programID: id, idempotencyKey: idempotencyKey) }
            throw error
        }
        guard outcome.applied, let versionID = outcome.versionID else { return nil }
        cache.store(program, for: versionID)
        latest.store(KnownProgram(userID: known.userID, latest: ProgramHead.Latest(id: versionID, version: version, checksum: checksum)), for: id)
        (dualWrite ? metrics.savesWithVersion : metrics.versionOnlySaves).increment()
        metrics.saveDuration.recordNanoseconds(started.nanosecondsElapsed)
        let stored = StoredProgram(
            id: id, userID: known.userID, program: program, revision: dualWrite ? outcome.legacyRevision ?? newRevision : newRevision,
            version: version, source: dualWrite ? .legacy : .versions)
        return SaveResult(stored: stored, changes: reconciliation.changes, createdVersion: true, wroteLegacy: dualWrite)
    }

    /// Deletes a workout and its schedule entries, as a save: every other schedule entry
    /// keeps its workout, and the enrollment's `current_day_index` follows its entry or is
    /// clamped to the new schedule (see `Program.deletingWorkout`).
    public func deleteWorkout(
        _ workoutID: String, from id: UUID, expectedRevision: Revision
    ) async throws(RepositoryError) -> (result: SaveResult, deletion: WorkoutDeletion) {
        let (result, deletion) = try await save(id, expectedRevision: expectedRevision) { current, connection in
            guard let current else { throw RepositoryError.workoutNotFound(programID: id, workoutID: workoutID) }
            let state = try await connection.query("""
                SELECT user_id, current_day_index FROM user_program_states WHERE program_id = \(id) FOR UPDATE
                """)
            let enrollments = try state.map { try $0.decode((UUID, Int32?).self) }
            let deletion: WorkoutDeletion
            do {
                deletion = try current.deletingWorkout(id: workoutID, currentDayIndex: enrollments.first?.1.map(Int.init))
            } catch {
                throw RepositoryError.workoutNotFound(programID: id, workoutID: workoutID)
            }
            for (userID, day) in enrollments {
                let old = day.map(Int.init)
                let new = deletion.currentDayIndex(old: old)
                if new != old {
                    try await connection.query("""
                        UPDATE user_program_states SET current_day_index = \(new)
                         WHERE user_id = \(userID) AND program_id = \(id)
                        """)
                }
            }
            return (deletion.program, deletion)
        }
        guard let deletion else { throw .workoutNotFound(programID: id, workoutID: workoutID) }
        return (result, deletion)
    }

    /// The shared save: lock the row, check the revision, let `edit` produce the new
    /// program from the current one, reconcile, validate, write what changed.
    private func save<Extra: Sendable>(
        _ id: UUID, expectedRevision: Revision, idempotencyKey: UUID? = nil,
        edit: @escaping @Sendable (Program?, PGConnection) async throws -> (Program, Extra?)
    ) async throws(RepositoryError) -> (result: SaveResult, extra: Extra?) {
        let flags = self.flags.current()
        let started = ContinuousClock.now
        defer { metrics.saveDuration.recordNanoseconds(started.nanosecondsElapsed) }
        return try await run { connection in
            try await connection.transaction { connection in
                // Lock first, then read in a statement of its own: in READ COMMITTED a locking
                // read that waited (for the backfill, say) sees the new row but joins versions
                // from its old snapshot, and would miss a version committed meanwhile. The
                // lock statement also takes the phase lock shared (see `LegacyWriterLock`).
                let locked = try await connection.query(LegacyWriterLock.lockProgramForSave(id))
                guard !locked.isEmpty, let head = try await ProgramHead.load(id, on: connection) else {
                    throw RepositoryError.programNotFound(id)
                }
                // A retry of a save that committed: its first outcome, nothing written again.
                if let idempotencyKey, let replay = try await self.replay(idempotencyKey, of: id, head: head, on: connection) {
                    return (replay, Extra?.none)
                }
                let revision = head.revision
                guard revision == expectedRevision else {
                    self.metrics.conflicts.increment()
                    throw RepositoryError.conflict(programID: id, expected: expectedRevision, current: revision)
                }
                // The program as it is now: the version when it stands for it (cached: no rows
                // travel), else the legacy JSON. `legacyChecksum` is what legacy holds, if known.
                let current: Program?
                let legacyChecksum: String?
                if head.versionIsCurrent, let latest = head.latest {
                    current = try await self.versionContent(latest.id, of: id, on: connection)
                    legacyChecksum = head.legacyHoldsLatest ? latest.checksum : nil
                } else if let json = try await ProgramHead.legacyJSON(of: id, on: connection) {
                    // A legacy row that cannot be read is replaced by the save, not an obstacle to it.
                    current = try? Program(legacyJSON: json.bytes)
                    legacyChecksum = current?.canonicalChecksum
                } else {
                    current = nil
                    legacyChecksum = nil
                }
                let (edited, extra) = try await edit(current, connection)
                let reconciliation = edited.reconciled(with: current ?? Program(name: edited.name, workouts: [], schedule: []))
                let program = reconciliation.program
                let violations = program.violations
                guard violations.isEmpty else {
                    self.metrics.refusedSaves.increment()
                    throw RepositoryError.invalidProgram(ProgramValidationError(violations: violations))
                }
                // Phase 5 as the database holds it now (read under the phase lock), not as this
                // instance last heard: legacy is not written, the version always is.
                let legacyReadOnly = head.legacyReadOnly
                let checksum = program.canonicalChecksum
                let writeLegacy = !legacyReadOnly && legacyChecksum != checksum
                let writeVersion = (flags.writes || legacyReadOnly) && head.latest?.checksum != checksum
                let nextVersion = (head.latest?.version ?? 0) + 1
                let source: ReadSource = legacyReadOnly ? .versions : .legacy
                guard writeLegacy || writeVersion else {
                    self.metrics.unchangedSaves.increment()
                    let stored = StoredProgram(
                        id: id, userID: head.userID, program: program, revision: revision, version: head.latest?.version, source: source)
                    return (SaveResult(stored: stored, changes: reconciliation.changes, createdVersion: false, wroteLegacy: false), extra)
                }
                let outcome = try await ProgramWrite(
                    programID: id, program: program, checksum: checksum, writeLegacy: writeLegacy,
                    version: writeVersion ? nextVersion : nil, currentLegacyRevision: head.legacyRevision,
                    writtenToLegacy: !legacyReadOnly, createdBy: "save"
                ).run(on: connection)
                // The next save (or read) of this program finds its current version here.
                if let versionID = outcome.versionID {
                    self.cache.store(program, for: versionID)
                    self.latest.store(
                        KnownProgram(userID: head.userID, latest: ProgramHead.Latest(id: versionID, version: nextVersion, checksum: checksum)),
                        for: id)
                }
                (!writeVersion ? self.metrics.legacyOnlySaves : legacyReadOnly ? self.metrics.versionOnlySaves : self.metrics.savesWithVersion)
                    .increment()
                self.logger.debug("program saved", metadata: [
                    "program": "\(id)", "version": "\(writeVersion ? String(nextVersion) : "-")",
                    "changes": "\(reconciliation.changes.items.count)", "legacyReadOnly": "\(legacyReadOnly)",
                ])
                let newRevision = writeVersion && legacyReadOnly
                    ? Revision("\(head.legacyRevision)/v\(nextVersion)")
                    : outcome.legacyRevision ?? Revision(head.legacyRevision)
                let stored = StoredProgram(
                    id: id, userID: head.userID, program: program, revision: newRevision,
                    version: writeVersion ? nextVersion : head.latest?.version, source: source)
                if let idempotencyKey {
                    try await connection.query("""
                        INSERT INTO save_receipts (idempotency_key, program_id, version, revision, created_version, wrote_legacy)
                        VALUES (\(idempotencyKey), \(id), \(stored.version), \(newRevision.token), \(writeVersion), \(writeLegacy))
                        """)
                }
                return (SaveResult(stored: stored, changes: reconciliation.changes, createdVersion: writeVersion, wroteLegacy: writeLegacy), extra)
            }
        }
    }

    /// The recorded outcome of an earlier save with `key`, if it committed.
    private func replay(_ key: UUID, of id: UUID, head: ProgramHead, on connection: PGConnection) async throws -> SaveResult? {
        guard let row = try await connection.query("""
            SELECT r.program_id, r.version, r.revision, r.created_version, r.wrote_legacy, v.id
              FROM save_receipts r
              LEFT JOIN program_versions v ON v.program_id = r.program_id AND v.version = r.version
             WHERE r.idempotency_key = \(key)
            """).first
        else { return nil }
        let (programID, version, revision, createdVersion, wroteLegacy, versionID) = try row.decode((UUID, Int32?, String, Bool, Bool, UUID?).self)
        guard programID == id else { throw RepositoryError.idempotencyKeyReused(key, programID: id) }
        // The program as that save left it: its version, else (a legacy-only save) the legacy JSON now.
        let program: Program
        if let versionID {
            program = try await versionContent(versionID, of: id, on: connection)
        } else if let json = try await ProgramHead.legacyJSON(of: id, on: connection), let legacy = try? Program(legacyJSON: json.bytes) {
            program = legacy
        } else {
            throw RepositoryError.programNotFound(id)
        }
        let stored = StoredProgram(
            id: id, userID: head.userID, program: program, revision: Revision(revision), version: version.map(Int.init),
            source: createdVersion && !wroteLegacy ? .versions : .legacy)
        var result = SaveResult(stored: stored, changes: ProgramChanges(items: []), createdVersion: createdVersion, wroteLegacy: wroteLegacy)
        result.replayed = true
        return result
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (PGConnection) async throws -> T) async throws(RepositoryError) -> T {
        try await pool.repositoryCall(body)
    }
}
