extension Program {
    /// The program in the legacy shape (DESIGN.md §2): the schedule written back as
    /// `workoutIndex`, the app's unknown keys after the known ones at each level.
    ///
    /// `Program(legacyJSON: p.legacyJSON) == p` for every program whose schedule names
    /// existing workouts. A schedule entry naming a missing workout id (possible only in a
    /// program built in code, which validation refuses) is written past the end.
    public var legacyJSON: JSONValue { legacyJSON(spellingBodyweightAsNull: true) }

    /// `legacyJSON` as compact text.
    public var legacyJSONText: String { legacyJSON.jsonText }

    func legacyJSON(spellingBodyweightAsNull: Bool) -> JSONValue {
        var positions: [String: Int] = [:]
        for (position, workout) in workouts.enumerated() where positions[workout.id] == nil {
            positions[workout.id] = position
        }
        let workoutValues = workouts.map { workout -> JSONValue in
            let exerciseValues = workout.exercises.map { exercise -> JSONValue in
                var members: [(key: String, value: JSONValue)] = [
                    ("id", .string(exercise.id)), ("name", .string(exercise.name)),
                    ("sets", .number(JSONNumber(exercise.sets))), ("reps", .number(JSONNumber(exercise.reps))),
                    ("restSeconds", .number(JSONNumber(exercise.restSeconds))),
                ]
                if let weight = exercise.weightKg {
                    members.append(("weightKg", .number(weight)))
                } else if exercise.writesNullWeight, spellingBodyweightAsNull {
                    members.append(("weightKg", .null))
                }
                return .object(JSONObject(members + exercise.unknownKeys.members))
            }
            let members: [(key: String, value: JSONValue)] = [
                ("id", .string(workout.id)), ("name", .string(workout.name)), ("exercises", .array(exerciseValues)),
            ]
            return .object(JSONObject(members + workout.unknownKeys.members))
        }
        let scheduleValues = schedule.map { entry -> JSONValue in
            let index: Int
            switch entry.workout {
            case .id(let id): index = positions[id] ?? workouts.count
            case .index(let position): index = position
            }
            let members: [(key: String, value: JSONValue)] = [
                ("dayIndex", .number(JSONNumber(entry.dayIndex))), ("workoutIndex", .number(JSONNumber(index))),
            ]
            return .object(JSONObject(members + entry.unknownKeys.members))
        }
        let members: [(key: String, value: JSONValue)] = [
            ("name", .string(name)), ("workouts", .array(workoutValues)), ("schedule", .array(scheduleValues)),
        ]
        return .object(JSONObject(members + unknownKeys.members))
    }
}
