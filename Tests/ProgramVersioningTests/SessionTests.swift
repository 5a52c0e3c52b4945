import Foundation
import Logging
import PostgresDriver
import ProgramDomain
import ProgramVersioning
import RuntimeFlags
import Testing
import TestSupport

@Suite("Sessions keep their history across edits")
struct SessionTests {
    static func sessions(_ db: TestDatabase.Fresh) -> WorkoutSessions {
        WorkoutSessions(pool: db.pool, logger: Logger(label: "test"))
    }

    @Test(arguments: [Fixtures.off, Fixtures.writesOn, Fixtures.bothOn])
    func aRenameThenADeletionKeepsTheOldSessionsNamesInHistory(_ flags: FlagSnapshot) async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, flags)
            let sessions = Self.sessions(db)
            let user = UUID()
            let created = try await repository.create(Fixtures.program(), for: user)
            let first = try await sessions.start(userID: user, programID: created.id, workoutID: "w-lower")
            #expect((first.programVersionID != nil) == flags.writes)
            try await sessions.logSet(sessionID: first.id, exerciseID: "e-squat", setIndex: 0, reps: 5, weightKg: JSONNumber("100"))
            try await sessions.complete(sessionID: first.id)

            var renamed = created.program
            renamed.workouts[1].name = "Legs"
            let afterRename = try await repository.save(renamed, to: created.id, expectedRevision: created.revision)
            let second = try await sessions.start(userID: user, programID: created.id, workoutID: "w-lower")
            #expect(second.workoutName == "Legs")
            try await sessions.complete(sessionID: second.id)
            _ = try await repository.deleteWorkout("w-lower", from: created.id, expectedRevision: afterRename.stored.revision)

            let history = try await sessions.history(userID: user)
            #expect(history.map(\.workoutName) == ["Legs", "Lower"])
            #expect(history.map(\.status) == ["COMPLETED", "COMPLETED"])
            #expect(history.last?.setCount == 1)
            // The deleted workout can no longer be started.
            await #expect(throws: RepositoryError.self) {
                try await sessions.start(userID: user, programID: created.id, workoutID: "w-lower")
            }
        }
    }

    @Test func lastPerformanceSurvivesAnAIEditThatRegeneratedEveryId() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.bothOn)
            let sessions = Self.sessions(db)
            let user = UUID()
            let created = try await repository.create(Fixtures.program(), for: user)
            let session = try await sessions.start(userID: user, programID: created.id, workoutID: "w-upper")
            try await sessions.logSet(sessionID: session.id, exerciseID: "e-bench", setIndex: 0, reps: 6, weightKg: JSONNumber("80.5"))
            try await sessions.logSet(sessionID: session.id, exerciseID: "e-bench", setIndex: 1, reps: 5, weightKg: JSONNumber("80.5"))
            try await sessions.complete(sessionID: session.id)

            // The AI hands back the whole program with every id replaced by its own.
            let regenerated = created.program.legacyJSONText
                .replacingOccurrences(of: #""id":"([^"]*)""#, with: #""id":"ai-$1-x""#, options: .regularExpression)
            let aiEdit = try Program(legacyJSON: Array(regenerated.utf8))
            #expect(aiEdit.workouts[0].id == "ai-w-upper-x")
            let saved = try await repository.save(aiEdit, to: created.id, expectedRevision: created.revision)
            #expect(saved.stored.program.workouts[0].exercises[0].id == "e-bench")

            let performance = try #require(try await sessions.lastPerformance(userID: user, exerciseID: "e-bench"))
            #expect(performance.sessionID == session.id)
            #expect(performance.sets.map(\.reps) == [6, 5])
            #expect(performance.sets.first?.weightKg == JSONNumber("80.5"))
            // And the next session logs under the same id.
            let next = try await sessions.start(userID: user, programID: created.id, workoutID: "w-upper")
            try await sessions.logSet(sessionID: next.id, exerciseID: "e-bench", setIndex: 0, reps: 8, weightKg: JSONNumber("82.5"))
            let latest = try #require(try await sessions.lastPerformance(userID: user, exerciseID: "e-bench"))
            #expect(latest.sessionID == next.id && latest.sets.map(\.reps) == [8])
        }
    }

    @Test func startingANewSessionAbandonsTheUnfinishedOne() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let sessions = Self.sessions(db)
            let user = UUID()
            let created = try await repository.create(Fixtures.program(), for: user)
            let first = try await sessions.start(userID: user, programID: created.id, workoutID: "w-upper")
            let second = try await sessions.start(userID: user, programID: created.id, workoutID: "w-core")
            #expect(second.abandoned == [first.id])
            let statuses = try await sessions.history(userID: user).map(\.status)
            #expect(statuses == ["IN_PROGRESS", "ABANDONED"])
            do throws(RepositoryError) {
                try await sessions.logSet(sessionID: first.id, exerciseID: "e-bench", setIndex: 0, reps: 5)
                Issue.record("an abandoned session takes no sets")
            } catch {
                guard case .sessionNotInProgress(_, let status) = error else { throw error }
                #expect(status == "ABANDONED")
            }
        }
    }

    @Test func badSessionInputIsATypedErrorAndWritesNothing() async throws {
        try await TestDatabase.withFresh { db in
            let repository = Fixtures.repository(db, Fixtures.writesOn)
            let sessions = Self.sessions(db)
            let user = UUID()
            let created = try await repository.create(Fixtures.program(), for: user)
            let session = try await sessions.start(userID: user, programID: created.id, workoutID: "w-upper")
            func expectFailure(_ expected: String, _ call: () async throws(RepositoryError) -> Void) async {
                do throws(RepositoryError) {
                    try await call()
                    Issue.record("expected \(expected)")
                } catch {
                    #expect("\(error)".contains(expected), "\(error)")
                }
            }
            await expectFailure("not part of the workout") { () async throws(RepositoryError) in
                try await sessions.logSet(sessionID: session.id, exerciseID: "e-squat", setIndex: 0, reps: 5)
            }
            await expectFailure("reps must be between") { () async throws(RepositoryError) in
                try await sessions.logSet(sessionID: session.id, exerciseID: "e-bench", setIndex: 0, reps: -1)
            }
            await expectFailure("does not exist") { () async throws(RepositoryError) in
                try await sessions.logSet(sessionID: UUID(), exerciseID: "e-bench", setIndex: 0, reps: 5)
            }
            await expectFailure("does not exist") { () async throws(RepositoryError) in
                _ = try await sessions.start(userID: UUID(), programID: created.id, workoutID: "w-upper")
            }
            await expectFailure("has no workout") { () async throws(RepositoryError) in
                _ = try await sessions.start(userID: user, programID: created.id, workoutID: "w-nope")
            }
            try await sessions.complete(sessionID: session.id)
            await expectFailure("is COMPLETED") { () async throws(RepositoryError) in try await sessions.complete(sessionID: session.id) }
            #expect(try await Fixtures.count(db, "logged_sets") == 0)
            #expect(try await Fixtures.count(db, "workout_sessions") == 1)
        }
    }
}
