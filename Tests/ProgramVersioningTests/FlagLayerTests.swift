import Foundation
import Logging
import RuntimeFlags
import Testing
import TestSupport

@Suite("Runtime flags: file and environment layers")
struct FlagLayerTests {
    @Test func theRepositoryFlagsFileHoldsTheSafeDefaults() {
        let source = FileFlagSource(path: TestDatabase.repositoryRoot.appendingPathComponent("flags.json").path, logger: Logger(label: "test"))
        #expect(source.current() == FlagSnapshot(writes: false, reads: false, readPercent: 0))
    }

    @Test func aGarbledFlagsFileKeepsTheOldValuesAndAFixIsPickedUp() async throws {
        let folder = try TemporaryFolder.make()
        defer { folder.remove() }
        let path = folder.url.appendingPathComponent("flags.json").path
        func write(_ text: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        try write(#"{"PROGRAM_VERSIONING_WRITES": {"enabled": true}, "PROGRAM_VERSIONING_READS": {"enabled": false, "percent": 0}}"#)
        let source = FileFlagSource(path: path, logger: Logger(label: "test"), pollInterval: .milliseconds(20))
        try await whileRunning(source) {
            #expect(source.current() == FlagSnapshot(writes: true, reads: false, readPercent: 0))
            try write(#"{"PROGRAM_VERSIONING_WRITES": {"enabled": tr"#)
            try await Task.sleep(for: .milliseconds(200))
            #expect(source.current() == FlagSnapshot(writes: true, reads: false, readPercent: 0), "garbage changes nothing")
            try write(#"{"PROGRAM_VERSIONING_WRITES": {"enabled": true}, "PROGRAM_VERSIONING_READS": {"enabled": true, "percent": 25}}"#)
            // How fast is the timing-sensitive group's business; here: the fix is picked up at all.
            try await FlagPropagationTimingSensitiveTests.waitUntil(.seconds(10)) { source.current().reads }
            #expect(source.current() == FlagSnapshot(writes: true, reads: true, readPercent: 25))
        }
    }

    @Test func aMissingFileServesTheFallbackAndEnvironmentVariablesOverrideTheirOwnFlag() {
        let missing = FileFlagSource(path: "/nonexistent/flags.json", logger: Logger(label: "test"))
        #expect(missing.current() == .legacy)
        let file = FixedFlagSource(FlagSnapshot(writes: true, reads: true, readPercent: 30))
        let onlyReads = EnvironmentFlagSource(environment: ["PROGRAM_VERSIONING_READS": "off"], fallback: file)
        #expect(onlyReads.current() == FlagSnapshot(writes: true, reads: false, readPercent: 30))
        let percent = EnvironmentFlagSource(environment: ["PROGRAM_VERSIONING_READS_PERCENT": "5", "PROGRAM_VERSIONING_WRITES": "junk"], fallback: file)
        #expect(percent.current() == FlagSnapshot(writes: true, reads: true, readPercent: 5), "an unreadable value is ignored")
    }

    @Test func theStoreOutranksTheOtherLayersOnceRead() async throws {
        try await TestDatabase.withFresh { db in
            let lower = EnvironmentFlagSource(environment: ["PROGRAM_VERSIONING_WRITES": "on"])
            let source = DatabaseFlagSource(connectionString: db.url, logger: Logger(label: "test"), fallback: lower)
            #expect(source.current().writes, "not read yet: the environment answers")
            try await whileRunning(source) {
                // Precedence is this test's business, not speed (the timing-sensitive group runs
                // alone): under a full parallel run the first read has taken more than 5 s.
                try await FlagPropagationTimingSensitiveTests.waitUntil(.seconds(30)) { source.isLoaded }
                #expect(!source.current().writes, "the store says off")
            }
        }
    }
}
