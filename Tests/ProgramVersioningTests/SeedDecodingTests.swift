import ProgramDomain
@testable import ProgramSeeding
import Testing

/// The seed's messy programs are the domain's test data: each kind of mess must decode (or
/// be refused) exactly as the domain promises, or backfill tests built on them mean nothing.
@Suite("Seeded programs through the domain codec")
struct SeedDecodingTests {
    @Test func everySeededProgramDecodesAsItsKindOfMessPredicts() throws {
        let generator = LegacyDataGenerator(seed: 11, messyPercent: 60, sessionsPerProgram: 2)
        var seenKinds = Set<String>()
        for index in 0..<1500 {
            let generated = generator.program(at: index)
            let json = try #require(generated.programRow[2])
            let program = try Program(legacyJSON: Array(json.utf8))
            let rules = Set(program.violations.map(\.rule))
            seenKinds.insert(generated.mess?.rawValue ?? "CLEAN")
            switch generated.mess {
            case .repeatedIds?:
                #expect(rules == [.exerciseIDRepeated, .workoutIDRepeated] || rules == [.exerciseIDRepeated], "\(json)")
            case .scheduleIndexPastEnd?:
                #expect(rules == [.workoutIndexOutOfRange], "\(json)")
            case .unknownKeys?:
                #expect(rules.isEmpty && !program.unknownKeys.isEmpty, "\(json)")
            case .missingIds?:
                #expect(rules.isEmpty && program.workouts.allSatisfy { $0.id.hasPrefix("w-") && $0.id.count == 14 }, "\(json)")
            default:
                #expect(rules.isEmpty, "\(json)")
            }
            // Whatever the mess, encoding and decoding again changes nothing.
            #expect(try Program(legacyJSON: program.legacyJSONBytes) == program)
        }
        #expect(seenKinds.count == LegacyMess.allCases.count + 1)
    }
}
