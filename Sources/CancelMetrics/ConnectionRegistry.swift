import NIOCore
import Synchronization

/// Every open connection of one metrics listener, and which to let go when one more arrives past
/// `maximum`. Refusing the newcomer (as a plain cap does) hands the listener to whoever opened
/// connections first: a few dozen local clients trickling half a request kept every probe out for
/// up to 10 s, a false "daemon down". So the newcomer is let in and the connection that has gone
/// longest without completing a request (since it opened, or since its last answer) is closed:
/// a client trickling its head, or a keep-alive connection idle since its last scrape. A probe
/// sends its whole request at once, so it is never the one waiting longest. A connection whose
/// answer is being prepared (waiting on the store, at most the exporter's patience) is never
/// closed for a newcomer; only when every one is, the newcomer is. One whose answer is handed to
/// the socket counts as idle again, so a client that never reads its answers holds nothing.
final class ConnectionRegistry: Sendable {
    let maximum: Int

    private struct Entry {
        let channel: any Channel
        /// When it opened, or last completed a request or an answer.
        var lastProgress: NIODeadline
        /// Requests read whose answers are not handed to the socket yet.
        var answering = 0
    }

    private struct State {
        var nextID = 0
        var open: [Int: Entry] = [:]
    }

    private let state = Mutex(State())

    init(maximum: Int) { self.maximum = maximum }

    /// A number for a connection about to open; unique for this listener.
    func reserveID() -> Int {
        state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
    }

    enum Admission {
        /// Counted open; the caller closes `closing` to make room for it (outside the lock: its
        /// `channelInactive` calls `remove`).
        case admitted(closing: (any Channel)?)
        /// Every open connection is being answered: the newcomer is not counted, and is closed.
        case refused
    }

    /// Counts `channel` as open, past `maximum` in place of the connection waiting longest
    /// without completing a request, which the caller closes.
    func admit(_ id: Int, _ channel: any Channel, now: NIODeadline = .now()) -> Admission {
        state.withLock { state in
            var closing: (any Channel)?
            if state.open.count >= maximum {
                // Ties (connections opened in the same instant) go to the older id.
                let waiting = state.open.filter { $0.value.answering == 0 }
                guard let oldest = waiting.min(by: { ($0.value.lastProgress, $0.key) < ($1.value.lastProgress, $1.key) }) else {
                    return .refused
                }
                closing = state.open.removeValue(forKey: oldest.key)?.channel
            }
            state.open[id] = Entry(channel: channel, lastProgress: now)
            return .admitted(closing: closing)
        }
    }

    /// A request of `id` is whole: it is answered now, and is not closed for a newcomer until its answer is written.
    func requestCompleted(_ id: Int, now: NIODeadline = .now()) {
        state.withLock { state in
            state.open[id]?.answering += 1
            state.open[id]?.lastProgress = now
        }
    }

    /// An answer of `id` is written: it counts as having made progress now.
    func answerWritten(_ id: Int, now: NIODeadline = .now()) {
        state.withLock { state in
            guard var entry = state.open[id] else { return }
            entry.answering = max(0, entry.answering - 1)
            entry.lastProgress = now
            state.open[id] = entry
        }
    }

    func remove(_ id: Int) {
        _ = state.withLock { $0.open.removeValue(forKey: id) }
    }
}
