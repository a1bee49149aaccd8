import Synchronization

/// Where finished requests and the shutdown signal meet the run loop, which sleeps on `wait`
/// until either arrives or its next deadline passes.
final class Inbox<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var stopping = false
        /// Something changed that the loop should look at (another process wrote the database).
        var nudged = false
        var waiter: CheckedContinuation<Void, Never>?
        var generation = 0
    }

    private let state = Mutex(State())

    func push(_ item: Item) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.items.append(item)
            return Self.takeWaiter(&state)
        }
        waiter?.resume()
    }

    /// Stops the loop for good; wakes it once (a nudge), after which `wait` sleeps normally again
    /// so that a loop draining its last requests does not spin.
    func requestStop() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopping = true
            state.nudged = true
            return Self.takeWaiter(&state)
        }
        waiter?.resume()
    }

    /// Wakes a waiting loop without an item; a `wait` that comes next returns at once.
    func nudge() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.nudged = true
            return Self.takeWaiter(&state)
        }
        waiter?.resume()
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    func drain() -> [Item] {
        state.withLock { state in
            defer { state.items.removeAll(keepingCapacity: true) }
            return state.items
        }
    }

    /// Returns when an item, a nudge or a stop arrives, or after `seconds`; at once if one is already there.
    func wait(seconds: Double) async {
        guard seconds > 0 else { return }
        let generation = state.withLock { state -> Int? in
            guard state.items.isEmpty && !state.nudged else {
                state.nudged = false
                return nil
            }
            state.generation += 1
            return state.generation
        }
        guard let generation else { return }
        let timer = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            self?.timeout(generation)
        }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                // Something arrived, or the timer fired, between the check above and now.
                guard state.generation == generation, state.items.isEmpty, !state.nudged else {
                    state.nudged = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        timer.cancel()
    }

    private func timeout(_ generation: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation else { return nil }
            state.generation += 1
            return Self.takeWaiter(&state)
        }
        waiter?.resume()
    }

    private static func takeWaiter(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        defer { state.waiter = nil }
        if state.waiter != nil { state.generation += 1 }
        return state.waiter
    }
}
