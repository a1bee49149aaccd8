import Foundation
import CancelCore

/// The rule of `cancelq approve`, the same on every store: an approval releases exactly the jobs the
/// operator was shown. The store counts the held jobs again inside the approving transaction, after
/// shutting out every writer that could still add one (SQLite's write lock; on PostgreSQL a table
/// lock that waits for inserts not yet committed, whose ids and times were assigned before they could
/// be seen); when that count is not what was shown, nothing is approved and the operator is asked
/// again. Jobs enqueued after the approval commits count toward the next surge.

/// The jobs a hold keeps back (pending, waiting-delay, retrying, maintenance-paused), identified
/// well enough to tell whether the set changed between the prompt and the approval: a job
/// queued, withdrawn or committed late changes the number or the ids.
public struct WaitingJobs: Equatable, Sendable {
    public var count: Int
    public var highestID: Int64
    public var idSum: Int64

    public init(count: Int, highestID: Int64, idSum: Int64) {
        self.count = count
        self.highestID = highestID
        self.idSum = idSum
    }

    /// One query for both stores: the number, highest id and sum of ids of the waiting jobs.
    public static let sql =
        "SELECT count(*), CAST(coalesce(max(id), 0) AS bigint), CAST(coalesce(sum(id), 0) AS bigint) FROM cancellations WHERE state IN \(State.sqlList { !$0.isFinal && $0 != .sent })"
}

/// What `cancelq approve` shows and would release: nil when sending is not held.
public struct HeldBacklog: Equatable, Sendable {
    public var surge: Surge
    public var since: Double
    public var waiting: WaitingJobs

    /// Jobs waiting to be sent, what the operator is told.
    public var backlog: Int { waiting.count }

    public init(surge: Surge, since: Double, waiting: WaitingJobs) {
        self.surge = surge
        self.since = since
        self.waiting = waiting
    }

    /// The audit trail's line for an approval (`operator_actions.detail`), the same on both
    /// stores: times in UTC for a reader, with the unix seconds the daemon compares.
    public func approvalDetail(approvedAt: Double) -> String {
        "released \(backlog) waiting job(s) held since \(Self.time(since)): \(surge); jobs enqueued after \(Self.time(approvedAt)) count toward the next surge"
    }

    static func time(_ unix: Double) -> String {
        let shown = Date(timeIntervalSince1970: unix).formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
        return "\(shown) (\(unix))"
    }
}

/// What an approval released: exactly `held`; jobs enqueued after `approvedAt` count toward
/// the next surge.
public struct Released: Equatable, Sendable {
    public var held: HeldBacklog
    public var approvedAt: Double
    public var backlog: Int { held.backlog }
}

public enum ApproveResult: Equatable, Sendable {
    /// Sending is open again; exactly these jobs were released.
    case released(Released)
    /// Nothing was held: nothing changed (an approval with nothing held would raise the bar
    /// for the next surge).
    case notHeld(SendingGate.Mode)
    /// The held jobs are not those the operator was shown (more were queued meanwhile, some
    /// withdrawn, or an insert committed late): nothing approved; show `now` and ask again.
    case changed(shown: HeldBacklog, now: HeldBacklog)
    /// A transaction on the queue stayed open too long for the held jobs to be counted: nothing
    /// approved; try again.
    case busy
}

extension ApproveResult {
    /// The decision, given the gate and the waiting jobs as counted inside the approving
    /// transaction. `shown` is what the operator confirmed; nil with `--yes`, where the released
    /// jobs are those counted here and the confirmation names them.
    public static func approval(of gate: SendingGate, counted: WaitingJobs, shown: HeldBacklog?, approvedAt: Double)
        -> ApproveResult
    {
        guard case .held(let surge, let since) = gate else { return .notHeld(gate.mode) }
        let now = HeldBacklog(surge: surge, since: since, waiting: counted)
        if let shown, shown != now { return .changed(shown: shown, now: now) }
        return .released(Released(held: now, approvedAt: approvedAt))
    }
}
