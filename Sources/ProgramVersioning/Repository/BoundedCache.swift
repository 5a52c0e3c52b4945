import Foundation
import Synchronization

/// Values by key, at most `capacity` of them: when full, the oldest entry is forgotten.
/// For values that are right whenever they are found (immutable versions) or that are only
/// a hint checked by the database (a program's latest version).
final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var values: [Key: Value] = [:]
        var insertionOrder: [Key] = []
        var oldest = 0
    }

    private let capacity: Int
    private let state: Mutex<State>

    init(capacity: Int) {
        self.capacity = max(capacity, 0)
        state = Mutex(State())
    }

    subscript(key: Key) -> Value? {
        state.withLock { $0.values[key] }
    }

    func store(_ value: Value, for key: Key) {
        guard capacity > 0 else { return }
        state.withLock { state in
            guard state.values.updateValue(value, forKey: key) == nil else { return }
            if state.insertionOrder.count < capacity {
                state.insertionOrder.append(key)
            } else {
                // A ring over the keys: overwrite (and forget) the oldest.
                state.values.removeValue(forKey: state.insertionOrder[state.oldest])
                state.insertionOrder[state.oldest] = key
                state.oldest = (state.oldest + 1) % capacity
            }
        }
    }
}
