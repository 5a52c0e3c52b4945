import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramVersioning
import RuntimeFlags
import Testing
import TestSupport

/// Every example of docs/integration.md lives here, between `// snippet: NAME` and
/// `// end snippet`, and runs against a real database; `theGuideShowsExactlyTheseSnippets`
/// fails when the guide's code and this file drift apart.
@Suite("docs/integration.md examples compile and run")
struct IntegrationGuideTests {
    @Test func setUp() async throws {
        try await TestDatabase.withFresh { db in
            let databaseURL = db.url
            // snippet: set-up
            let pool = PGPool(.init(connectionString: databaseURL, maxConnections: 8))
            let flags = FixedFlagSource(FlagSnapshot(writes: true, reads: false))  // phase 2: dual write
            let logger = Logger(label: "fitness.programs")
            let programs = ProgramRepository(pool: pool, flags: flags, logger: logger)
            let sessions = WorkoutSessions(pool: pool, logger: logger)
            // end snippet
            _ = (programs, sessions)
            await pool.close()
        }
    }

    @Test func readEditSave() async throws {
        try await TestDatabase.withFresh { db in
            let programs = Fixtures.repository(db, Fixtures.writesOn)
            let programID = try await programs.create(Fixtures.program(), for: UUID()).id
            let logger = Logger(label: "fitness.programs")
            // snippet: read-edit-save
            let stored = try await programs.program(programID)  // from versions or legacy, as the flags say
            var edited = stored.program
            edited.workouts[0].exercises[0].reps += 1
            do throws(RepositoryError) {
                let result = try await programs.save(edited, to: programID, expectedRevision: stored.revision)
                logger.info("saved", metadata: ["program": "\(programID)", "changes": "\(result.changes)"])
            } catch {
                switch error {
                case .invalidProgram(let validation):
                    for violation in validation.violations { print(violation.path, violation.message) }  // show them in the app
                case .conflict:
                    break  // someone saved first: re-read, re-apply the edit, save again
                default:
                    throw error  // not found, database down: error.description says what to do
                }
            }
            // end snippet
            #expect(try await programs.program(programID).program.workouts[0].exercises[0].reps == 7)
        }
    }

    @Test func aiEdit() async throws {
        try await TestDatabase.withFresh { db in
            let programs = Fixtures.repository(db, Fixtures.writesOn)
            let created = try await programs.create(Fixtures.program(), for: UUID())
            let programID = created.id
            let aiResponse = created.program.legacyJSONText.replacingOccurrences(of: #""id":"[^"]*","#, with: "", options: .regularExpression)
            // snippet: ai-edit
            // The AI returns a whole program as legacy JSON, ids missing or invented.
            let current = try await programs.program(programID)
            let proposal = try Program(legacyJSON: Array(aiResponse.utf8))  // LegacyDecodingError lists every problem
            let result = try await programs.save(proposal, to: programID, expectedRevision: current.revision)
            // Workouts and exercises that survived keep their ids, so history stays attached.
            for change in result.changes.items { print(change) }  // added, removed, renamed, modified, moved
            // end snippet
            #expect(result.stored.program.workouts.map(\.id) == ["w-upper", "w-lower", "w-core"])
        }
    }

    @Test func deleteWorkout() async throws {
        try await TestDatabase.withFresh { db in
            let programs = Fixtures.repository(db, Fixtures.writesOn)
            let programID = try await programs.create(Fixtures.program(), for: UUID()).id
            // snippet: delete-workout
            let current = try await programs.program(programID)
            let (result, deletion) = try await programs.deleteWorkout("w-core", from: programID, expectedRevision: current.revision)
            // Other schedule entries keep their workouts; the enrollment's day is clamped if needed.
            print(deletion.removedScheduleEntries.count, deletion.currentDayIndexChange as Any, result.stored.version as Any)
            // end snippet
            #expect(result.stored.program.workouts.count == 2)
        }
    }

    @Test func history() async throws {
        try await TestDatabase.withFresh { db in
            let programs = Fixtures.repository(db, Fixtures.writesOn)
            let programID = try await programs.create(Fixtures.program(), for: UUID()).id
            // snippet: versions
            for version in try await programs.versions(of: programID) {
                let content = try await programs.program(programID, version: version.version)
                print(version.version, version.createdAt, content.workouts.map(\.name))
            }
            // end snippet
        }
    }

    @Test func sessionsExample() async throws {
        try await TestDatabase.withFresh { db in
            let programs = Fixtures.repository(db, Fixtures.writesOn)
            let sessions = WorkoutSessions(pool: db.pool, logger: Logger(label: "test"))
            let userID = UUID()
            let programID = try await programs.create(Fixtures.program(), for: userID).id
            // snippet: sessions
            // Starting a session abandons the user's unfinished one (no background job needed).
            let session = try await sessions.start(userID: userID, programID: programID, workoutID: "w-upper")
            try await sessions.logSet(sessionID: session.id, exerciseID: "e-bench", setIndex: 0, reps: 6, weightKg: JSONNumber("80"))
            try await sessions.complete(sessionID: session.id)

            // Names as they were when each session ran, also after renames and deletions.
            for past in try await sessions.history(userID: userID) {
                print(past.startedAt, past.workoutName ?? "?", past.status, past.setCount)
            }
            // What the user lifted last time, across any number of edits of the program.
            if let last = try await sessions.lastPerformance(userID: userID, exerciseID: "e-bench") {
                print(last.sets.map { "\($0.reps) x \($0.weightKg?.canonical ?? "bodyweight")" })
            }
            // end snippet
            #expect(try await sessions.history(userID: userID).count == 1)
        }
    }

    @Test func shadowReadsExample() async throws {
        try await TestDatabase.withFresh { db in
            let pool = db.pool
            let flags = FixedFlagSource(Fixtures.bothOn)
            // snippet: shadow-reads
            let programs = ProgramRepository(
                pool: pool, flags: flags, logger: Logger(label: "fitness.programs"),
                shadowReads: ShadowReads(sampleRate: 0.01, recording: ShadowReadRecording(instance: "fitness-api-1")) { mismatch in
                    // Also logged, counted (program_versioning_shadow_reads_total{result="mismatch"}) and
                    // recorded per minute for `program-versioning status` and `flags ramp reads`.
                    print("program \(mismatch.programID) differs:", mismatch.differences.prefix(3))
                })
            // end snippet
            _ = programs
        }
    }

    @Test func updateRetriesOnConflict() async throws {
        try await TestDatabase.withFresh { db in
            let programs = Fixtures.repository(db, Fixtures.writesOn)
            let programID = try await programs.create(Fixtures.program(), for: UUID()).id
            // snippet: update
            let result = try await programs.update(programID, idempotencyKey: UUID()) { program in
                program.name = "Upper/Lower, week 2"
            }
            print(result.stored.version as Any)
            // end snippet
            #expect(try await programs.program(programID).program.name == "Upper/Lower, week 2")
        }
    }

    @Test func aMessyLegacyProgramIsReadWithItsProblemsAndSavedOnceFixed() async throws {
        try await TestDatabase.withFresh { db in
            let programs = Fixtures.repository(db, Fixtures.writesOn)
            let programID = UUID()
            // As the old app stored it: two exercises with one id, a schedule entry past the end.
            try await db.pool.query("""
                INSERT INTO programs (id, user_id, program_json) VALUES (\(programID), \(UUID()), \(PGJSONB("""
                {"name": "Old", "workouts": [{"id": "w-a", "name": "A", "exercises": [
                  {"id": "e-bench", "name": "Bench", "sets": 3, "reps": 5, "restSeconds": 90},
                  {"id": "e-bench", "name": "Row", "sets": 3, "reps": 8, "restSeconds": 90}]}],
                 "schedule": [{"dayIndex": 0, "workoutIndex": 0}, {"dayIndex": 2, "workoutIndex": 3}]}
                """)))
                """)
            // A rename alone is refused, naming the problem the app must resolve.
            let before = try await programs.program(programID)
            var renamed = before.program
            renamed.name = "Old, renamed"
            let refused = await #expect(throws: RepositoryError.self) {
                try await programs.save(renamed, to: programID, expectedRevision: before.revision)
            }
            guard case .invalidProgram(let validation)? = refused else { Issue.record("\(String(describing: refused))"); return }
            #expect(validation.violations.map(\.rule) == [.workoutIndexOutOfRange], "a repeated id is repaired by the save itself")
            // snippet: repair-messy
            let messy = try await programs.program(programID)  // read as it is, problems and all
            for violation in messy.program.violations {
                print(violation.rule, violation.path, violation.message)  // e.g. WORKOUT_INDEX_OUT_OF_RANGE schedule[1].workoutIndex
            }
            var fixed = messy.program
            fixed.schedule.removeAll { messy.program.position(of: $0.workout) == nil }  // the app (or the user) resolves each one
            let repaired = try await programs.save(fixed, to: programID, expectedRevision: messy.revision)
            print(repaired.createdVersion)  // the first clean version: it can be edited like any other now
            // end snippet
            #expect(Set(messy.program.violations.map(\.rule)) == [.exerciseIDRepeated, .workoutIndexOutOfRange])
            let ids = repaired.stored.program.workouts[0].exercises.map(\.id)
            #expect(repaired.createdVersion && ids.count == 2 && ids[0] == "e-bench" && ids[1] != "e-bench", "\(ids)")
            #expect(repaired.stored.program.schedule.count == 1 && repaired.stored.program.violations.isEmpty)
        }
    }

    /// The guide's ```swift blocks, each preceded by `<!-- snippet: NAME -->`, must equal the
    /// snippets of this file.
    @Test func theGuideShowsExactlyTheseSnippets() throws {
        let guide = try String(contentsOf: TestDatabase.repositoryRoot.appendingPathComponent("docs/integration.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let inCode = Self.snippets(in: source)
        let inGuide = Self.guideSnippets(in: guide)
        #expect(Set(inGuide.keys) == Set(inCode.keys))
        for (name, code) in inCode {
            #expect(inGuide[name] == code, "snippet \(name) differs between docs/integration.md and IntegrationGuideTests.swift")
        }
    }

    static func snippets(in source: String) -> [String: String] {
        var found: [String: String] = [:]
        var current: (name: String, lines: [Substring])?
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("// snippet: ") {
                current = (String(trimmed.dropFirst("// snippet: ".count)), [])
            } else if trimmed == "// end snippet", let snippet = current {
                found[snippet.name] = dedent(snippet.lines)
                current = nil
            } else if current != nil {
                current?.lines.append(line)
            }
        }
        return found
    }

    static func guideSnippets(in guide: String) -> [String: String] {
        var found: [String: String] = [:]
        let lines = guide.split(separator: "\n", omittingEmptySubsequences: false)
        var index = 0
        while index < lines.count {
            let line = lines[index].trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("<!-- snippet: "), line.hasSuffix(" -->") {
                let name = String(line.dropFirst("<!-- snippet: ".count).dropLast(" -->".count))
                var body: [Substring] = []
                index += 2  // past the marker and the ```swift fence
                while index < lines.count, lines[index].trimmingCharacters(in: .whitespaces) != "```" {
                    body.append(lines[index])
                    index += 1
                }
                found[name] = dedent(body)
            }
            index += 1
        }
        return found
    }

    static func dedent(_ lines: [Substring]) -> String {
        let indent = lines.filter { !$0.allSatisfy(\.isWhitespace) }.map { $0.prefix { $0 == " " }.count }.min() ?? 0
        return lines.map { String($0.dropFirst(min(indent, $0.count))) }.joined(separator: "\n")
    }
}
