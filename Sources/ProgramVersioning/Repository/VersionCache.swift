import Foundation
import ProgramDomain
import Synchronization

/// Decoded versions by id. Versions never change, so an entry is never stale; the cache
/// only bounds memory, dropping the oldest entry when full.
final class VersionCache: Sendable {
    private struct State {
        var programs: [UUID: Program] = [:]
        var insertionOrder: [UUID] = []
        var oldest = 0
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(capacity, 0)
    }

    func program(_ versionID: UUID) -> Program? {
        state.withLock { $0.programs[versionID] }
    }

    func store(_ program: Program, for versionID: UUID) {
        guard capacity > 0 else { return }
        state.withLock { state in
            guard state.programs.updateValue(program, forKey: versionID) == nil else { return }
            if state.insertionOrder.count < capacity {
                state.insertionOrder.append(versionID)
            } else {
                // A ring over the ids: overwrite (and forget) the oldest.
                state.programs.removeValue(forKey: state.insertionOrder[state.oldest])
                state.insertionOrder[state.oldest] = versionID
                state.oldest = (state.oldest + 1) % capacity
            }
        }
    }
}
