import CancelQueue
import ZeusAPI

/// `cancelq status --order`: one job and every attempt, as the audit trail has it. Every stored
/// string goes through `LogText.escaped`: a newline in a reason cannot forge a timeline line.
public struct TimelineText {
    let paint: Paint

    public init(colour: Bool) { paint = Paint(enabled: colour) }

    public func render(_ timeline: OrderTimeline, now: Double) -> String {
        var lines: [String] = []
        let outcome = timeline.outcome.map { " (\($0.rawValue))" } ?? ""
        let state: String
        switch timeline.state {
        case .failed: state = paint.red(timeline.state.rawValue)
        case .succeeded: state = paint.green(timeline.state.rawValue)
        case .pending, .waitingDelay, .sent, .retrying, .maintenancePaused, .withdrawn: state = timeline.state.rawValue
        }
        lines.append(paint.bold("Order \(LogText.escaped(timeline.orderNumber))") + "  job \(timeline.id) - \(state)\(outcome)")
        lines.append("  paid at    " + (timeline.paidAt.map { Formatting.localTime($0) } ?? "not given (counted from the queue time)"))
        lines.append("  queued     \(Formatting.localTime(timeline.createdAt))")
        lines.append("  updated    \(Formatting.localTime(timeline.updatedAt))")
        if let due = timeline.dueAt {
            let relative = due >= now ? "in \(Formatting.duration(due - now))" : "overdue by \(Formatting.duration(now - due))"
            lines.append("  next due   \(Formatting.localTime(due)) (\(relative))")
        }
        lines.append("  attempts   \(timeline.attemptCount) counted, \(timeline.attempts.count) request(s) sent")
        if !timeline.attempts.isEmpty { lines.append("") }
        for attempt in timeline.attempts {
            var text = "  #\(attempt.attempt)  \(Formatting.localTime(attempt.startedAt))"
            if let completed = attempt.completedAt {
                text += "  +\(Formatting.duration(completed - attempt.startedAt))"
            } else {
                text += "  " + paint.yellow("in flight (no answer recorded yet)")
            }
            if let http = attempt.httpStatus { text += "  HTTP \(http)" }
            if let status = attempt.status {
                text += "  \(LogText.escaped(status, limit: 40))/\(LogText.escaped(attempt.code ?? "", limit: 40))"
                if let meaning = attempt.meaning { text += "  \(LogText.escaped(meaning))" }
            }
            if let error = attempt.error { text += "  " + paint.yellow(LogText.escaped(error, limit: 500)) }
            if let counted = attempt.counted { text += paint.dim(counted ? "  counted" : "  not counted") }
            lines.append(text)
        }
        for withdrawal in timeline.withdrawals {
            lines.append("  withdrawn  \(Formatting.localTime(withdrawal.at))  reason: \(withdrawal.reason.map { LogText.escaped($0, limit: 1000) } ?? "none given")")
        }
        for action in timeline.operatorActions {
            let who = action.operator.map { " by \(LogText.escaped($0))" } ?? ""
            lines.append(
                "  operator   \(Formatting.localTime(action.at))  \(LogText.escaped(action.action))\(who): \(LogText.escaped(action.detail ?? "", limit: 1000))")
        }
        return lines.joined(separator: "\n")
    }
}
