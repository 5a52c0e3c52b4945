import Foundation
import Logging
import PostgresDriver
import Synchronization

/// Where an instance's shadow-read outcomes go: per-minute counts in `shadow_read_minutes`
/// (migration 23), which `program-versioning status` shows and `flags ramp reads` judges.
public struct ShadowReadRecording: Sendable {
    /// Names this instance's rows (one per minute). Default: host name and process id.
    public var instance: String
    /// How often the counts are written: the table takes at most one upsert per instance
    /// per interval, whatever the traffic.
    public var flushInterval: Duration

    public init(instance: String? = nil, flushInterval: Duration = .seconds(10)) {
        self.instance = instance ?? "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
        self.flushInterval = max(flushInterval, .milliseconds(100))
    }
}

/// What one minute of one instance saw.
struct ShadowTally: Sendable {
    var legacyReads = 0, legacyReadErrors = 0, legacyReadMilliseconds = 0.0
    var versionedReads = 0, versionedReadErrors = 0, versionedReadMilliseconds = 0.0
    var fallbacks = 0, saves = 0, saveErrors = 0
    var compared = 0, mismatched = 0, shadowErrors = 0, skipped = 0
    var mismatchPaths: [String: Int] = [:]

    /// Distinct paths kept per minute: a broken version table must not grow a row without end.
    static let pathLimit = 50

    mutating func add(_ other: ShadowTally) {
        legacyReads += other.legacyReads
        legacyReadErrors += other.legacyReadErrors
        legacyReadMilliseconds += other.legacyReadMilliseconds
        versionedReads += other.versionedReads
        versionedReadErrors += other.versionedReadErrors
        versionedReadMilliseconds += other.versionedReadMilliseconds
        fallbacks += other.fallbacks
        saves += other.saves
        saveErrors += other.saveErrors
        compared += other.compared
        mismatched += other.mismatched
        shadowErrors += other.shadowErrors
        skipped += other.skipped
        for (path, count) in other.mismatchPaths { addPath(path, count) }
    }

    mutating func addPath(_ path: String, _ count: Int = 1) {
        if mismatchPaths[path] != nil || mismatchPaths.count < Self.pathLimit { mismatchPaths[path, default: 0] += count }
    }
}

/// Counts in memory by minute, written by `run(flushingTo:)` in the background: a request
/// only takes a short lock to add to a counter, never waits for the database.
final class ShadowReadLedger: Sendable {
    let recording: ShadowReadRecording
    private let minutes = Mutex<[Int: ShadowTally]>([:])
    private let stopped = Atomic<Bool>(false)
    /// Minutes kept while the database cannot be written (then the oldest go, counted in a log line).
    static let retainedMinutes = 60

    init(recording: ShadowReadRecording) {
        self.recording = recording
    }

    /// Adds to the current minute.
    func record(_ change: (inout ShadowTally) -> Void) {
        let minute = Int(Date().timeIntervalSince1970 / 60)
        minutes.withLock { change(&$0[minute, default: ShadowTally()]) }
    }

    /// Writes the counts every flush interval until `stop()` (or cancellation), then once more.
    func run(flushingTo pool: PGPool, logger: Logger) async {
        var failing = false
        while !stopped.load(ordering: .relaxed), !Task.isCancelled {
            let due = ContinuousClock.now + recording.flushInterval
            while ContinuousClock.now < due, !stopped.load(ordering: .relaxed), !Task.isCancelled {
                try? await Task.sleep(for: min(.milliseconds(100), due - ContinuousClock.now))
            }
            if Task.isCancelled { return }
            await flush(to: pool, logger: logger, failing: &failing)
        }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    /// Upserts every minute in hand (adding to what the row holds); on failure the counts
    /// go back and the next flush tries again.
    func flush(to pool: PGPool, logger: Logger, failing: inout Bool) async {
        let taken = minutes.withLock { held in
            defer { held = [:] }
            return held
        }
        guard !taken.isEmpty else { return }
        do {
            try await pool.withConnection { connection in
                for (minute, tally) in taken.sorted(by: { $0.key < $1.key }) {
                    try await Self.upsert(minute: minute, tally, instance: recording.instance, on: connection)
                }
            }
            if failing { logger.notice("shadow-read counts are written again") }
            failing = false
        } catch {
            let dropped = minutes.withLock { held -> Int in
                for (minute, tally) in taken { held[minute, default: ShadowTally()].add(tally) }
                let excess = held.keys.sorted().dropLast(Self.retainedMinutes)
                for minute in excess { held[minute] = nil }
                return excess.count
            }
            if !failing || dropped > 0 {
                logger.warning("shadow-read counts could not be written; kept for the next try", metadata: [
                    "error": "\(error)", "droppedMinutes": "\(dropped)",
                ])
            }
            failing = true
        }
    }

    private static func upsert(minute: Int, _ tally: ShadowTally, instance: String, on connection: PGConnection) async throws {
        let paths = try JSONSerialization.data(withJSONObject: tally.mismatchPaths, options: [.sortedKeys])
        try await connection.query("""
            INSERT INTO shadow_read_minutes AS m
              (minute, instance, legacy_reads, legacy_read_errors, legacy_read_ms, versioned_reads, versioned_read_errors,
               versioned_read_ms, fallbacks, saves, save_errors, compared, mismatched, shadow_errors, skipped, mismatch_paths)
            VALUES (to_timestamp(\(Double(minute * 60))), \(instance), \(tally.legacyReads), \(tally.legacyReadErrors),
                    \(tally.legacyReadMilliseconds), \(tally.versionedReads), \(tally.versionedReadErrors), \(tally.versionedReadMilliseconds),
                    \(tally.fallbacks), \(tally.saves), \(tally.saveErrors), \(tally.compared), \(tally.mismatched), \(tally.shadowErrors),
                    \(tally.skipped), \(String(decoding: paths, as: UTF8.self))::jsonb)
            ON CONFLICT (minute, instance) DO UPDATE SET
              legacy_reads = m.legacy_reads + excluded.legacy_reads,
              legacy_read_errors = m.legacy_read_errors + excluded.legacy_read_errors,
              legacy_read_ms = m.legacy_read_ms + excluded.legacy_read_ms,
              versioned_reads = m.versioned_reads + excluded.versioned_reads,
              versioned_read_errors = m.versioned_read_errors + excluded.versioned_read_errors,
              versioned_read_ms = m.versioned_read_ms + excluded.versioned_read_ms,
              fallbacks = m.fallbacks + excluded.fallbacks,
              saves = m.saves + excluded.saves,
              save_errors = m.save_errors + excluded.save_errors,
              compared = m.compared + excluded.compared,
              mismatched = m.mismatched + excluded.mismatched,
              shadow_errors = m.shadow_errors + excluded.shadow_errors,
              skipped = m.skipped + excluded.skipped,
              mismatch_paths = (SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb)
                                  FROM (SELECT key, sum(value::int8) AS total
                                          FROM (SELECT * FROM jsonb_each_text(m.mismatch_paths)
                                                UNION ALL SELECT * FROM jsonb_each_text(excluded.mismatch_paths)) e
                                         GROUP BY key ORDER BY total DESC, key LIMIT \(ShadowTally.pathLimit)) t)
            """)
    }
}
