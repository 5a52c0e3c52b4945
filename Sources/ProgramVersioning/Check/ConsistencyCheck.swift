import Foundation
import Logging
import PostgresDriver
import RuntimeFlags
import Synchronization

/// Why a check could not finish.
public enum CheckError: Error, Sendable, CustomStringConvertible {
    case database(runID: UUID?, PostgresError)

    public var description: String {
        switch self {
        case .database(let runID, let error):
            "the check failed\(runID.map { " (run \($0))" } ?? ""): \(error.message.split(whereSeparator: \.isNewline).first ?? ""); "
                + "check the database connection and run it again"
        }
    }
}

/// The consistency check (DESIGN.md §5): every program's legacy JSON against its latest
/// version rebuilt from the versioned tables, every session's and set's links, version
/// numbering and orphans. It reads page by page with short statements (no long snapshot, no
/// lock an app query would wait for) and, when done, records the run with its findings as
/// one row of `check_runs`, the only table it writes (so it can run as a read-only role).
public struct ConsistencyCheck: Sendable {
    private let pool: PostgresPool
    private let logger: Logger

    public init(pool: PostgresPool, logger: Logger = Logger(label: "ProgramVersioning.check")) {
        self.pool = pool
        self.logger = logger
    }

    public func run(_ options: CheckOptions = CheckOptions()) async throws(CheckError) -> CheckReport {
        var runID: UUID?
        do {
            return try await run(options) { runID = $0 }
        } catch let error as CheckError {
            throw error
        } catch let error as PostgresError {
            throw .database(runID: runID, error)
        } catch {
            throw .database(runID: runID, PostgresError(code: .server, message: "\(error)"))
        }
    }

    private func run(_ options: CheckOptions, announce: (UUID) -> Void) async throws -> CheckReport {
        let startedAt = Date()
        let flags = try await FlagStore(pool: pool).snapshot()
        let writes = flags.writes
        let retired = try await pool.withConnection { try await LegacyRetirement.inForce(on: $0) } != nil
        let runID = UUID()
        announce(runID)
        var report = CheckReport(
            runID: runID, startedAt: startedAt, finishedAt: startedAt, writes: writes, reads: flags.reads,
            readPercent: flags.readPercent, legacyReadOnly: flags.legacyReadOnly, legacyRetired: retired, userID: options.userID,
            programsChecked: 0, sessionsChecked: 0, differences: [], differenceCount: 0, countsByKind: [:], ignoredCount: 0,
            comparison: nil, trend: [])
        // Programs and sessions are checked at the same time, each on its own connections
        // (three at most: the pool should allow that many); what they find is gathered here.
        let tally = CheckTally(report, options: options)
        do {
            // Programs, the heavier part, in two walks over halves of the key space.
            let halves = ProgramComparison.halves(
                userID: options.userID, writesOn: writes, legacyReadOnly: flags.legacyReadOnly, legacyRetired: retired)
            async let firstHalf = halves[0].forEachPage(pageSize: options.pageSize, pool: pool) { tally.record($0) }
            async let secondHalf = halves[1].forEachPage(pageSize: options.pageSize, pool: pool) { tally.record($0) }
            async let sessionsChecked = SessionLinkCheck(userID: options.userID)
                .forEachPage(pageSize: options.pageSize, pool: pool) { tally.record($0) }
            let (programsInFirst, programsInSecond, sessions) = try await (firstHalf, secondHalf, sessionsChecked)
            let programs = programsInFirst.scanned + programsInSecond.scanned
            if options.userID == nil {
                tally.record(try await pool.withConnection { try await orphans(on: $0) })
            }
            var keys = Set<String>()
            (report, keys) = tally.result
            (report.programsChecked, report.sessionsChecked) = (programs, sessions.scanned)
            report.legacyBehind = programsInFirst.legacyBehind + programsInSecond.legacyBehind
            report.finishedAt = Date()
            let (finished, keysSeen) = (report, keys)
            return try await pool.withConnection { connection in
                var report = finished
                let history = try await CheckHistory.load(userID: options.userID, on: connection)
                report.comparison = history.compare(with: keysSeen)
                report.trend = history.trend + [CheckTrendPoint(runID: runID, finishedAt: report.finishedAt, differenceCount: report.differenceCount)]
                try await CheckHistory.store(report, status: report.isClean ? "CLEAN" : "DIFFERENCES", on: connection)
                return report
            }
        } catch {
            var failed = tally.result.report
            failed.finishedAt = Date()
            _ = try? await pool.withConnection { try await CheckHistory.store(failed, status: "FAILED", on: $0) }
            throw error
        }
    }

    /// Versions and sessions whose program row is gone (possible only with constraints
    /// switched off, e.g. a restore with triggers disabled), and logged sets whose session
    /// does not exist. The session part walks sessions program by program, so these are the
    /// ones it cannot reach.
    private func orphans(on connection: PostgresConnection) async throws -> [CheckDifference] {
        let versions = try await connection.query("""
            SELECT v.program_id, v.id, v.version FROM program_versions v
             WHERE NOT EXISTS (SELECT 1 FROM programs p WHERE p.id = v.program_id)
             ORDER BY v.program_id, v.version
            """).map { row in
            let (programID, versionID, version) = try row.decode((UUID, UUID, Int32).self)
            return CheckDifference(
                programID: programID, kind: .orphanVersion, path: "version \(version)", legacy: nil, versioned: versionID.uuidString.lowercased())
        }
        let sessions = try await connection.query("""
            SELECT s.program_id, s.id FROM workout_sessions s
             WHERE NOT EXISTS (SELECT 1 FROM programs p WHERE p.id = s.program_id)
             ORDER BY s.program_id, s.id
            """).map { row in
            let (programID, sessionID) = try row.decode((UUID, UUID).self)
            return CheckDifference(
                programID: programID, sessionID: sessionID, kind: .brokenSessionLink,
                path: "sessions[\(sessionID.uuidString.lowercased())].program_id", legacy: "points at no program", versioned: nil)
        }
        // Sets stay a soft reference to their session (old clients made session ids on the
        // device): the migration that adopted them promises the check reports the dangling ones.
        let sets = try await connection.query("""
            SELECT l.session_id, l.id FROM logged_sets l
             WHERE NOT EXISTS (SELECT 1 FROM workout_sessions s WHERE s.id = l.session_id)
             ORDER BY l.session_id, l.id
            """).map { row in
            let (sessionID, setID) = try row.decode((UUID, UUID).self)
            return CheckDifference(
                programID: nil, sessionID: sessionID, kind: .brokenSessionLink,
                path: "sets[\(setID.uuidString.lowercased())].session_id", legacy: "points at no session", versioned: nil)
        }
        return versions + sessions + sets
    }
}

/// What the parts of a check found so far, recorded from their tasks.
private final class CheckTally: Sendable {
    private let state: Mutex<(report: CheckReport, keys: Set<String>)>
    private let options: CheckOptions

    init(_ report: CheckReport, options: CheckOptions) {
        state = Mutex((report, []))
        self.options = options
    }

    var result: (report: CheckReport, keys: Set<String>) { state.withLock { ($0.report, $0.keys) } }

    func record(_ found: [CheckDifference]) {
        guard !found.isEmpty else { return }
        state.withLock { state in
            for var difference in found {
                if let reason = options.ignoreList.reason(for: difference) {
                    difference.ignoredBecause = reason
                    state.report.ignoredCount += 1
                } else {
                    state.report.differenceCount += 1
                    state.report.countsByKind[difference.kind, default: 0] += 1
                }
                // Ignored or not, it is still there: only a difference that is gone counts as fixed.
                state.keys.insert(difference.key)
                if state.report.differences.count < options.keepInMemory { state.report.differences.append(difference) }
            }
        }
    }
}
