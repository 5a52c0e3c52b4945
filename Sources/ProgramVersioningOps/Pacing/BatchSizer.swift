/// The size of a run's next batch: the one the operator fixed, or one adapted after each
/// batch so that a batch takes about the target duration. A step changes the size by at
/// most half or a half again, so one odd batch (a cold cache, a checkpoint) does not swing it.
struct BatchSizer: Sendable {
    static let adaptiveRange = 20...10_000
    static let adaptiveStart = 200

    /// The size the run was started with (`--batch-size`), if any.
    let fixed: Int?
    let target: Duration
    private(set) var adapted: Int

    init(fixed: Int?, target: Duration) {
        self.fixed = fixed
        self.target = target
        adapted = Self.adaptiveStart
    }

    /// The next batch's size: an operator's live change first, then the fixed size, then the adapted one.
    func next(override: Int?) -> Int {
        override ?? fixed ?? adapted
    }

    /// Learns from a batch of `records` that took `took`.
    mutating func record(records: Int, took: Duration, override: Int?) {
        guard fixed == nil, override == nil, records > 0, took > .zero else { return }
        let factor = min(1.5, max(0.5, target.seconds / took.seconds))
        let proposed = Int((Double(records) * factor).rounded())
        // A fast short page (the last one) is no reason to shrink; a slow one is.
        let next = factor >= 1 ? max(adapted, proposed) : proposed
        adapted = min(Self.adaptiveRange.upperBound, max(Self.adaptiveRange.lowerBound, next))
    }
}
