import ArgumentParser
import PostgresDriver
import ProgramSeeding
import ProgramVersioning

/// `seed`: synthetic legacy data for demos and benchmarks.
struct SeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed",
        abstract: "Write synthetic legacy programs, enrollments, sessions and sets (COPY, one transaction).",
        discussion: "The same --seed gives the same rows, ids included; seeding the same --seed twice into one database collides."
    )

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "How many programs to write.") var programs: Int
    @Option(help: "Percent of programs (0-100) that carry one kind of legacy mess.") var messy: Double = 0
    @Option(help: "Seed for the generator.") var seed: UInt64 = 1
    @Option(help: "Past sessions per program.") var sessionsPerProgram: Int = 2

    func validate() throws {
        guard programs >= 0 else { throw ValidationError("--programs must be 0 or more") }
        guard (0...100).contains(messy) else { throw ValidationError("--messy must be between 0 and 100") }
        guard (0...1000).contains(sessionsPerProgram) else { throw ValidationError("--sessions-per-program must be between 0 and 1000") }
    }

    func run() async throws {
        let options = LegacySeeder.Options(programs: programs, messyPercent: messy, seed: seed, sessionsPerProgram: sessionsPerProgram)
        let summary = try await reportingErrors(connection: connection) {
            try await withPool(connection) { pool in
                do {
                    return try await LegacySeeder(pool: pool).seed(options)
                } catch let error as PGError where error.sqlState == "23505" {
                    throw OperatorError("seed \(seed) was already written to this database (duplicate ids): use another --seed or a fresh database; nothing was written")
                } catch let error as PGError where error.sqlState == "42P01" {
                    throw OperatorError("the legacy tables do not exist: run `program-versioning migrate up` first; nothing was written")
                }
            }
        }
        print("seeded \(summary.programs) programs, \(summary.sessions) sessions, \(summary.sets) sets")
        for (kind, count) in summary.messByKind.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            print("  messy \(kind.rawValue): \(count) programs (\(kind.reportedAs))")
        }
    }
}
