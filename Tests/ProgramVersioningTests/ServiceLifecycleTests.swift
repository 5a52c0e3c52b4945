import Foundation
import Logging
import PostgresDriver
import ProgramVersioning
import ProgramVersioningOps
import RuntimeFlags
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

/// What an app service gets: every piece that works in the background is a `Service` that a
/// `ServiceGroup` starts and stops; nothing keeps running after graceful shutdown.
@Suite("Background work as services: flag sources, the pool and shadow reads in a ServiceGroup")
struct ServiceLifecycleTests {
    @Test func theAppsServicesRunInAServiceGroupAndAllStopOnGracefulShutdown() async throws {
        try await TestDatabase.withFresh { db in
            let folder = try TemporaryFolder.make()
            defer { folder.remove() }
            let file = folder.url.appendingPathComponent("flags.json").path
            try #"{"PROGRAM_VERSIONING_WRITES": {"enabled": true}, "PROGRAM_VERSIONING_READS": {"enabled": false, "percent": 0}}"#
                .write(toFile: file, atomically: true, encoding: .utf8)
            let logger = Logger(label: "test")
            let pool = PGPool(.init(connectionString: db.url, maxConnections: 4, applicationName: "lifecycle-app"))
            let flags = FlagSources.standard(databaseURL: db.url + " application_name='lifecycle-flags'", flagsFile: file, environment: [:], logger: logger)
            let programs = ProgramRepository(pool: pool, flags: flags, logger: logger, shadowReads: ShadowReads(sampleRate: 1))
            #expect(flags.current().writes, "nothing runs yet: the file answers")
            let group = ServiceGroup(configuration: .init(services: [pool, flags, programs], logger: logger))
            let running = Task { try await group.run() }

            // Running: the store (all off) outranks the file once read, and follows a flip.
            try await FlagPropagationTimingSensitiveTests.waitUntil(.seconds(30)) { !flags.current().writes }
            try await FlagStore(pool: db.pool).set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            try await FlagPropagationTimingSensitiveTests.waitUntil(.seconds(10)) { flags.current().writes }
            let created = try await programs.create(Fixtures.program(), for: UUID())
            #expect(try await programs.program(created.id).program == created.program)
            #expect(try await Self.backends(db, "lifecycle-flags") == 1, "the store is followed on a connection of its own")

            await group.triggerGracefulShutdown()
            try await running.value
            // Everything stopped: the pool refuses work, and no connection of the app is left.
            let error = await #expect(throws: PGError.self) { try await pool.query("SELECT 1") }
            #expect(error?.code == .poolClosed)
            #expect(try await BackfillRobustnessTests.waitUntil(timeout: .seconds(10)) { try await Self.backends(db, "lifecycle-%") == 0 })
            // The flags stay as last read.
            #expect(flags.current().writes)
        }
    }

    @Test func aMissingFlagsFileIsLoggedOnceAtWarning() async throws {
        let logs = CapturedLogs()
        let logger = Logger(label: "test", factory: { _ in logs.handler })
        let source = FileFlagSource(path: "/nonexistent/flags.json", logger: logger, pollInterval: .milliseconds(20))
        try await whileRunning(source) { try await Task.sleep(for: .milliseconds(300)) }
        let warnings = logs.entries.filter { $0.level == .warning }
        #expect(warnings.count == 1 && warnings.first?.message.contains("flags file ignored") == true, "\(logs.entries)")
        #expect(source.current() == .legacy)
    }

    /// Connections to the test database whose application_name is like `pattern`.
    static func backends(_ db: TestDatabase.Fresh, _ pattern: String) async throws -> Int {
        try await TestDatabase.admin { admin in
            try await admin.query("""
                SELECT count(*) FROM pg_stat_activity WHERE datname = \(db.name) AND application_name LIKE \(pattern)
                """).single().decode(Int.self, at: 0)
        }
    }
}

/// Log entries kept in memory, for tests that check what was logged.
final class CapturedLogs: Sendable {
    struct Entry: Sendable { var level: Logger.Level; var message: String }
    private let stored = Mutex<[Entry]>([])

    var entries: [Entry] { stored.withLock { $0 } }

    var handler: some LogHandler { Handler(logs: self) }

    private struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            logs.stored.withLock { $0.append(Entry(level: event.level, message: "\(event.message)")) }
        }
    }
}
