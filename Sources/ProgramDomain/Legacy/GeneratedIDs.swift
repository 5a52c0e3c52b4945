/// Ids for workouts and exercises that legacy JSON wrote without one.
///
/// The rule is fixed forever, because sessions recorded against an id-less program must
/// find the same workout in every process and every release:
///
/// - workout at position `p` (0-based) named `n`:
///   `"w-" + first 12 hex digits of SHA-256("program-versioning/workout-id/v1\n<p>\n<n>")`
/// - exercise at position `q` named `n` in the workout whose (final) id is `w`:
///   `"e-" + first 12 hex digits of SHA-256("program-versioning/exercise-id/v1\n<w>\n<q>\n<n>")`
/// - ids written in the JSON are reserved first; a generated id already taken at its level
///   gets `-2`, `-3`, ... (the first free one), positions taken in order.
///
/// Positions and names are the ones in the JSON as decoded; ids are never derived from
/// anything outside the program (no clock, no randomness).
public enum GeneratedIDs {
    public static func workoutID(position: Int, name: String) -> String {
        "w-" + SHA256Checksum.hex("program-versioning/workout-id/v1\n\(position)\n\(name)").prefix(12)
    }

    public static func exerciseID(workoutID: String, position: Int, name: String) -> String {
        "e-" + SHA256Checksum.hex("program-versioning/exercise-id/v1\n\(workoutID)\n\(position)\n\(name)").prefix(12)
    }

    /// `candidate`, or `candidate-2`, `candidate-3`, ... whichever is first not in `taken`;
    /// the result is added to `taken`.
    public static func firstFree(_ candidate: String, taken: inout Set<String>) -> String {
        var id = candidate
        var suffix = 2
        while taken.contains(id) {
            id = "\(candidate)-\(suffix)"
            suffix += 1
        }
        taken.insert(id)
        return id
    }
}
