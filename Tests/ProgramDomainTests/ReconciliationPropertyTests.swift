import PropertyBased
import ProgramDomain
import Testing

/// What an AI edit does to ids before handing the program back.
enum IDDamage: CaseIterable {
    /// No ids at all: decoding generates its own.
    case stripped
    /// Fresh random ids.
    case regenerated
    /// `w-1`, `w-2`, ... in the new order: ids that exist in the previous version but now
    /// sit on different workouts.
    case renumbered
}

extension Program {
    /// The program as an AI might return it: workouts and exercises shuffled, ids damaged,
    /// passed through the legacy JSON like any real edit.
    func damaged(_ damage: IDDamage, _ rng: inout any SeededRandomNumberGenerator) throws -> Program {
        var shuffled = self
        shuffled.workouts.shuffle(using: &rng)
        for index in shuffled.workouts.indices { shuffled.workouts[index].exercises.shuffle(using: &rng) }
        guard case .object(var root) = shuffled.legacyJSON, case .array(var workouts)? = root["workouts"] else {
            throw DamageError()
        }
        for w in workouts.indices {
            guard case .object(var workout) = workouts[w], case .array(var exercises)? = workout["exercises"] else { throw DamageError() }
            for e in exercises.indices {
                guard case .object(var exercise) = exercises[e] else { throw DamageError() }
                exercise.members.removeAll { $0.key == "id" }
                switch damage {
                case .stripped: break
                case .regenerated: exercise.set("id", .string("ai-\(UInt32.random(in: 0...UInt32.max, using: &rng))"))
                case .renumbered: exercise.set("id", .string("e-\(e + 1)"))
                }
                exercises[e] = .object(exercise)
            }
            workout.set("exercises", .array(exercises))
            workout.members.removeAll { $0.key == "id" }
            switch damage {
            case .stripped: break
            case .regenerated: workout.set("id", .string("ai-w-\(UInt32.random(in: 0...UInt32.max, using: &rng))"))
            case .renumbered: workout.set("id", .string("w-\(w + 1)"))
            }
            workouts[w] = .object(workout)
        }
        root.set("workouts", .array(workouts))
        return try Program(legacyJSON: JSONValue.object(root))
    }

    /// The same program with ids renumbered `w-1...`/`e-1...`, so `renumbered` damage
    /// really collides with previous ids.
    var renumberedIDs: Program {
        var copy = self
        var mapping: [String: String] = [:]
        for w in copy.workouts.indices {
            mapping[copy.workouts[w].id] = "w-\(w + 1)"
            copy.workouts[w].id = "w-\(w + 1)"
            for e in copy.workouts[w].exercises.indices { copy.workouts[w].exercises[e].id = "e-\(e + 1)" }
        }
        for s in copy.schedule.indices {
            if case .id(let id) = copy.schedule[s].workout { copy.schedule[s].workout = .id(mapping[id] ?? id) }
        }
        return copy
    }

    /// Workout id and exercise ids keyed by names (unique in the generated programs).
    var idsByName: [String: String] {
        var ids: [String: String] = [:]
        for workout in workouts {
            ids[workout.name] = workout.id
            for exercise in workout.exercises { ids[workout.name + "/" + exercise.name] = exercise.id }
        }
        return ids
    }

    var scheduleByName: [String] {
        schedule.map { entry in
            guard let position = position(of: entry.workout) else { return "?" }
            return "\(entry.dayIndex):\(workouts[position].name)"
        }.sorted()
    }

    var idsAreUniqueAtEachLevel: Bool {
        Set(workouts.map(\.id)).count == workouts.count
            && workouts.allSatisfy { Set($0.exercises.map(\.id)).count == $0.exercises.count }
    }
}

struct DamageError: Error {}

@Suite("Identity reconciliation (property-based)")
struct ReconciliationPropertyTests {
    @Test(arguments: IDDamage.allCases)
    func anUnchangedProgramKeepsEveryIdWhateverHappenedToThem(_ damage: IDDamage) async {
        await propertyCheck(count: 1500, input: ProgramGen.validProgramCase) { testCase in
            var rng = testCase.random()
            let previous = damage == .renumbered ? testCase.program.renumberedIDs : testCase.program
            guard let edited = try? previous.damaged(damage, &rng) else {
                Issue.record("damaging failed")
                return
            }
            let result = edited.reconciled(with: previous)
            #expect(result.program.idsByName == previous.idsByName)
            #expect(result.program.scheduleByName == previous.scheduleByName)
            #expect(result.program.violations.isEmpty)
            #expect(result.changes.items(.added).isEmpty && result.changes.items(.removed).isEmpty)
            #expect(result.changes.items(.renamed).isEmpty && result.changes.items(.modified).filter {
                if case .exercise = $0.subject { return true } else { return false }
            }.isEmpty)
        }
    }

    @Test(arguments: IDDamage.allCases)
    func changingOneExerciseKeepsEveryOtherId(_ damage: IDDamage) async {
        await propertyCheck(count: 1500, input: ProgramGen.validProgramCase) { testCase in
            var rng = testCase.random()
            let previous = damage == .renumbered ? testCase.program.renumberedIDs : testCase.program
            let w = Int.random(in: 0..<previous.workouts.count, using: &rng)
            let e = Int.random(in: 0..<previous.workouts[w].exercises.count, using: &rng)
            var changed = previous
            let target = changed.workouts[w].exercises[e]
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: changed.workouts[w].exercises[e].reps = target.reps % 100 + 1
            case 1: changed.workouts[w].exercises[e].sets = target.sets % 20 + 1
            case 2: changed.workouts[w].exercises[e].weightKg = JSONNumber(Int.random(in: 0...1000, using: &rng))
            default: changed.workouts[w].exercises[e].name = target.name + " (variation)"
            }
            guard let edited = try? changed.damaged(damage, &rng) else {
                Issue.record("damaging failed")
                return
            }
            let result = edited.reconciled(with: previous)
            let editedKey = previous.workouts[w].name + "/" + target.name
            var expected = previous.idsByName
            expected.removeValue(forKey: editedKey)
            var actual = result.program.idsByName
            actual.removeValue(forKey: previous.workouts[w].name + "/" + changed.workouts[w].exercises[e].name)
            #expect(actual == expected, "every id but the edited exercise's is kept")
            #expect(result.program.idsAreUniqueAtEachLevel)
            #expect(result.program.violations.isEmpty)
        }
    }
}
