/// Which known key followed each known key (and an object's start) in the last object of
/// one level: the decoder's guess for the next object, confirmed with one comparison.
///
/// Real documents repeat one order in every object (the app's own; jsonb's, by key length,
/// which is what the backfill and the check read), so after the first object of a level
/// almost every known key is taken without scanning for its end. A wrong guess costs one
/// comparison and falls back to reading the key.
struct KeyOrderGuess {
    /// The slot of an object's start; known keys use their raw values, below it.
    static let start = 15
    /// Four bits per slot: the raw value of the key that came next, 0xF for no guess yet.
    private var packed: UInt64 = ~0

    @inline(__always)
    func after(_ slot: Int) -> Int? {
        let next = Int(truncatingIfNeeded: packed >> UInt64(slot * 4)) & 0xF
        return next == 0xF ? nil : next
    }

    @inline(__always)
    mutating func record(_ next: Int, after slot: Int) {
        let shift = UInt64(slot * 4)
        packed = packed & ~(0xF << shift) | UInt64(next) << shift
    }
}

/// One `KeyOrderGuess` per level of the legacy format.
struct KeyOrderGuesses {
    private var program = KeyOrderGuess(), workout = KeyOrderGuess()
    private var exercise = KeyOrderGuess(), schedule = KeyOrderGuess()

    /// The level's guess; resolved when the decoder is specialized for the level.
    subscript<Known: LegacyKeySet>(_: Known.Type) -> KeyOrderGuess {
        @inline(__always) get {
            if Known.self == ExerciseKey.self { return exercise }
            if Known.self == WorkoutKey.self { return workout }
            if Known.self == ScheduleKey.self { return schedule }
            return program
        }
        @inline(__always) set {
            if Known.self == ExerciseKey.self { exercise = newValue } else if Known.self == WorkoutKey.self { workout = newValue }
            else if Known.self == ScheduleKey.self { schedule = newValue } else { program = newValue }
        }
    }
}

/// A member's key, as far as the decoder cares: one it models, or one of the app's own.
enum LegacyMember<Known> {
    case known(Known)
    case unknown(JSONParser.Key)
}

extension JSONParser {
    /// Moves to the next member's value like `nextKey` and says which known key it is;
    /// nil after the object's last member. `previous` is the last known key of this object
    /// (`KeyOrderGuess.start` before the first); `guess` is the level's.
    @inline(__always)
    mutating func nextMember<Known: LegacyKeySet>(
        first: inout Bool, previous: inout Int, guess: inout KeyOrderGuess
    ) throws(JSONSyntaxError) -> LegacyMember<Known>? {
        if let guessed = guess.after(previous).flatMap(Known.init(rawValue:)), takeKey(guessed.quoted, first: &first) {
            previous = guessed.rawValue
            return .known(guessed)
        }
        guard let key = try nextKey(first: &first) else { return nil }
        for known in Known.allCases where key.is(known.quoted) {
            guess.record(known.rawValue, after: previous)
            previous = known.rawValue
            return .known(known)
        }
        return .unknown(key)
    }
}
