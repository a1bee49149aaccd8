import Synchronization

/// A task's value, or nil once `limit` has passed (the task goes on without the caller).
///
/// The answer is claimed before the timer is cancelled: a cancelled timer wakes at once, and had
/// it been cancelled first it could claim the answer on another thread and report a value that
/// had arrived as overdue.
func value<Value: Sendable>(of task: Task<Value, Never>, within limit: Duration) async -> Value? {
    let once = AnswerOnce()
    return await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
        let timer = Task {
            try? await Task.sleep(for: limit)
            // A cancelled sleep means the value came first.
            if !Task.isCancelled, once.claim() { continuation.resume(returning: nil) }
        }
        Task {
            let value = await task.value
            if once.claim() { continuation.resume(returning: value) }
            timer.cancel()
        }
    }
}

/// The first of two racing tasks resumes the continuation; the other does nothing.
private final class AnswerOnce: Sendable {
    private let done = Atomic<Bool>(false)

    func claim() -> Bool {
        done.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}
