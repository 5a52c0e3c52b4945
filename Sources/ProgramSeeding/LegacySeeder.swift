import Logging
import PostgresDriver

/// Writes synthetic legacy data with COPY: the demo's data and the benchmarks' generator.
public struct LegacySeeder: Sendable {
    /// What to generate.
    public struct Options: Sendable {
        /// How many programs (one user each).
        public var programs: Int
        /// The share of programs, 0-100, that carry one kind of legacy mess.
        public var messyPercent: Double
        /// The seed: the same seed gives the same rows, ids included.
        public var seed: UInt64
        /// Past sessions per program, each with logged sets.
        public var sessionsPerProgram: Int
        /// Workouts per program, drawn uniformly (mean 3.5 by default; 2...6 gives mean 4).
        public var workoutsPerProgram: ClosedRange<Int>
        /// Exercises per workout, drawn uniformly (mean 5.5 by default; 4...8 gives mean 6).
        public var exercisesPerWorkout: ClosedRange<Int>
        /// Only these kinds of mess (nil: every kind); programs drawn for another kind stay clean.
        public var messKinds: Set<LegacyMess>?

        /// Creates options.
        public init(
            programs: Int, messyPercent: Double = 0, seed: UInt64 = 1, sessionsPerProgram: Int = 2,
            workoutsPerProgram: ClosedRange<Int> = 1...6, exercisesPerWorkout: ClosedRange<Int> = 3...8,
            messKinds: Set<LegacyMess>? = nil
        ) {
            self.messKinds = messKinds
            self.programs = programs
            self.messyPercent = messyPercent
            self.seed = seed
            self.sessionsPerProgram = sessionsPerProgram
            self.workoutsPerProgram = workoutsPerProgram.clamped(to: 1...12)
            self.exercisesPerWorkout = exercisesPerWorkout.clamped(to: 1...15)
        }
    }

    /// What was written.
    public struct Summary: Sendable, Equatable {
        /// Programs written (and as many enrollments).
        public var programs = 0
        /// Sessions written.
        public var sessions = 0
        /// Logged sets written.
        public var sets = 0
        /// How many programs carry each kind of mess.
        public var messByKind: [LegacyMess: Int] = [:]
    }

    private let pool: PGPool
    private let logger: Logger

    /// A seeder writing to `pool`'s database.
    public init(pool: PGPool, logger: Logger = Logger(label: "ProgramVersioning.seed", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.pool = pool
        self.logger = logger
    }

    /// Writes the data in one transaction: all of it or, on error, none of it. The summary
    /// is for reporting; tests that only need the rows may ignore it.
    @discardableResult
    public func seed(_ options: Options, chunkSize: Int = 5_000) async throws -> Summary {
        let generator = LegacyDataGenerator(
            seed: options.seed, messyPercent: options.messyPercent, sessionsPerProgram: max(0, options.sessionsPerProgram),
            workoutsPerProgram: options.workoutsPerProgram, exercisesPerWorkout: options.exercisesPerWorkout,
            messKinds: options.messKinds)
        return try await pool.transaction { connection in
            var summary = Summary()
            var start = 0
            while start < options.programs {
                let end = min(options.programs, start + chunkSize)
                let batch = (start..<end).map(generator.program(at:))
                try await connection.copyFrom("COPY programs (id, user_id, program_json, created_at, updated_at) FROM STDIN") { writer in
                    for program in batch { try await writer.write(row: program.programRow) }
                }
                try await connection.copyFrom(
                    "COPY user_program_states (user_id, program_id, current_day_index, enrollment_status) FROM STDIN"
                ) { writer in
                    for program in batch { try await writer.write(row: program.stateRow) }
                }
                try await connection.copyFrom(
                    "COPY workout_sessions (id, user_id, program_id, workout_id, status, started_at, completed_at) FROM STDIN"
                ) { writer in
                    for program in batch { for row in program.sessionRows { try await writer.write(row: row) } }
                }
                try await connection.copyFrom(
                    "COPY logged_sets (id, session_id, user_id, exercise_id, set_index, reps, weight_kg, logged_at) FROM STDIN"
                ) { writer in
                    for program in batch { for row in program.setRows { try await writer.write(row: row) } }
                }
                for program in batch {
                    summary.programs += 1
                    summary.sessions += program.sessionRows.count
                    summary.sets += program.setRows.count
                    if let mess = program.mess { summary.messByKind[mess, default: 0] += 1 }
                }
                logger.debug("seeded programs", metadata: ["done": "\(end)", "of": "\(options.programs)"])
                start = end
            }
            return summary
        }
    }
}
