import Foundation
import ProgramVersioning
import ProgramVersioningOps
import Synchronization

/// Backfill progress on stderr: a bar redrawn in place with rate and ETA on a terminal,
/// a plain line every few seconds otherwise (logs, CI), so stdout keeps only the result.
/// A wait (a pause, replica lag, ...) shows at once with its reason.
final class ProgressLine: Sendable {
    private let kind: BackfillKind
    private let toTerminal: Bool
    private let state = Mutex<(lastDraw: ContinuousClock.Instant?, drew: Bool, throttled: String?)>((nil, false, nil))

    init(kind: BackfillKind, toTerminal: Bool) {
        self.kind = kind
        self.toTerminal = toTerminal
    }

    func update(_ progress: BackfillProgress) {
        let now = ContinuousClock.now
        let interval: Duration = toTerminal ? .milliseconds(100) : .seconds(5)
        let draw = state.withLock { state -> Bool in
            // A wait starting or ending is always shown: it is what the operator looks for.
            let changed = progress.throttled != state.throttled
            state.throttled = progress.throttled
            if !changed, let last = state.lastDraw, last.duration(to: now) < interval { return false }
            (state.lastDraw, state.drew) = (now, true)
            return true
        }
        guard draw else { return }
        let line = Self.describe(progress, kind: kind, bar: toTerminal)
        FileHandle.standardError.write(Data((toTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    func finish() {
        if toTerminal, state.withLock({ $0.drew }) { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func describe(_ progress: BackfillProgress, kind: BackfillKind, bar: Bool) -> String {
        let done = progress.counts.seen
        let seconds = Double(progress.elapsed.components.seconds) + Double(progress.elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(done) / seconds : 0
        var parts: [String] = []
        if let total = progress.total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            if bar {
                let filled = Int(fraction * 30)
                parts.append("[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "]")
            }
            parts.append("\(Int(fraction * 100))% \(done)/\(total) \(kind.rawValue)")
            if rate > 0, total > done { parts.append("ETA \(Int((Double(total - done) / rate).rounded(.up)))s") }
        } else {
            parts.append("\(done) \(kind.rawValue)")
        }
        parts.append("\(Int(rate))/s")
        parts.append("reported \(progress.counts.reported + progress.counts.setsReported)")
        if progress.batchSize > 0 { parts.append("batch \(progress.batchSize)") }
        if progress.deferred > 0 { parts.append("\(progress.deferred) held by others, will come back") }
        if let throttled = progress.throttled { parts.append("throttled: \(throttled)") }
        return "backfill " + parts.joined(separator: "  ")
    }
}

/// The check's progress on stderr, like the backfill's: programs and sessions checked of
/// all, rate and ETA, and why it waits when it does.
final class CheckProgressLine: Sendable {
    private let toTerminal: Bool
    private let state = Mutex<(lastDraw: ContinuousClock.Instant?, drew: Bool, throttled: String?)>((nil, false, nil))

    init(toTerminal: Bool) {
        self.toTerminal = toTerminal
    }

    func update(_ progress: CheckRunProgress) {
        let now = ContinuousClock.now
        let interval: Duration = toTerminal ? .milliseconds(100) : .seconds(5)
        let draw = state.withLock { state -> Bool in
            let changed = progress.throttled != state.throttled
            state.throttled = progress.throttled
            if !changed, let last = state.lastDraw, last.duration(to: now) < interval { return false }
            (state.lastDraw, state.drew) = (now, true)
            return true
        }
        guard draw else { return }
        let line = Self.describe(progress, bar: toTerminal)
        FileHandle.standardError.write(Data((toTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    func finish() {
        if toTerminal, state.withLock({ $0.drew }) { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func describe(_ progress: CheckRunProgress, bar: Bool) -> String {
        let fraction = progress.fractionDone
        var parts: [String] = []
        if bar {
            let filled = Int(fraction * 30)
            parts.append("[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "]")
        }
        parts.append("\(Int(fraction * 100))% programs \(progress.programsChecked)/\(progress.programsTotal)")
        parts.append("sessions \(progress.sessionsChecked)/\(progress.sessionsTotal)")
        if fraction < 1, let left = progress.estimatedRemaining { parts.append("ETA \(left.components.seconds + 1)s") }
        if let throttled = progress.throttled { parts.append("throttled: \(throttled)") }
        return "check " + parts.joined(separator: "  ")
    }
}
