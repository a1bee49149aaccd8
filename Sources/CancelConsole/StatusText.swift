import CancelCore
import CancelQueue
import ZeusAPI

/// The compact table of `cancelq status`, modelled on `systemctl status`: the state of sending
/// first, then the queue, then what needs a person. Every stored string (and the database's name,
/// an argument) goes through `LogText.escaped`: no control character reaches the terminal.
public struct StatusText {
    let paint: Paint

    public init(colour: Bool) { paint = Paint(enabled: colour) }

    public func render(_ report: StatusReport) -> String {
        var lines: [String] = []
        lines.append(paint.bold("cancelq status") + "  \(LogText.escaped(report.database))  " + paint.dim(Formatting.localTime(report.generatedAt)))
        lines.append("")
        lines.append(row("Sending", sending(report)))
        let order: [State] = [.pending, .waitingDelay, .sent, .retrying, .maintenancePaused, .succeeded, .failed, .withdrawn]
        let counts = order.map { state -> String in
            let value = report.counts[state.rawValue] ?? 0
            let text = "\(state.rawValue) \(Formatting.count(value))"
            if state == .failed && value > 0 { return paint.red(text) }
            return value == 0 ? paint.dim(text) : text
        }
        lines.append(row("Jobs", counts.joined(separator: " · ") + "  (total \(Formatting.count(report.total)))"))
        if let oldest = report.oldestUnfinished {
            lines.append(row("Oldest", "\(LogText.escaped(oldest.orderNumber)) (\(oldest.state.rawValue)), queued \(Formatting.duration(oldest.ageSeconds)) ago"))
        } else {
            lines.append(row("Oldest", paint.dim("no unfinished job")))
        }
        if let due = report.nextDue {
            let when =
                due.inSeconds >= 0
                ? "in \(Formatting.duration(due.inSeconds))"
                : paint.yellow("overdue by \(Formatting.duration(-due.inSeconds))")
            lines.append(row("Next due", "\(LogText.escaped(due.orderNumber)) (\(due.state.rawValue)) \(when), at \(Formatting.localTime(due.dueAt))"))
        } else {
            lines.append(row("Next due", paint.dim("nothing waiting")))
        }
        lines.append(
            row("Today", "\(Formatting.count(report.today.succeeded)) succeeded · \(Formatting.count(report.today.failed)) failed"
                + paint.dim("  (since \(Formatting.localTime(report.today.since)))")))
        let health =
            report.health.status == .ok
            ? paint.green("OK")
            : paint.red("ATTENTION") + ": " + report.health.escapedReasons
        lines.append(row("Health", health))
        if let daemons = report.daemons {
            lines.append("")
            lines.append(paint.bold("Daemons") + paint.dim("  (sharing this queue; \(Formatting.count(report.rescuedToday ?? 0)) job(s) rescued from dead ones today)"))
            if daemons.isEmpty { lines.append("  " + paint.yellow("none alive")) }
            for daemon in daemons {
                lines.append(
                    "  \(LogText.escaped(daemon.name))  \(LogText.escaped(daemon.host)) pid \(daemon.pid)  \(daemon.inFlight) in flight  "
                        + paint.dim(
                            "up since \(Formatting.localTime(daemon.startedAt)), heartbeat \(Formatting.duration(max(0, report.generatedAt - daemon.heartbeatAt))) ago"))
            }
        }
        if !report.recentFailures.isEmpty {
            lines.append("")
            lines.append(paint.bold("Last failures"))
            for failure in report.recentFailures {
                let answer = LogText.escaped([failure.status, failure.code].compactMap { $0 }.joined(separator: "/"))
                let what = LogText.escaped(failure.meaning ?? failure.error ?? "", limit: 500)
                lines.append(
                    "  \(LogText.escaped(failure.orderNumber))  \(failure.outcome?.rawValue ?? "-")  \(answer.isEmpty ? "-" : answer)  \(what)  "
                        + paint.dim("\(failure.attempts) request(s), \(Formatting.localTime(failure.at))"))
            }
            lines.append(paint.dim("  requeue with: cancelq requeue --db \(LogText.escaped(report.database)) ORDER…  (or --all-failed)"))
        }
        return lines.joined(separator: "\n")
    }

    private func sending(_ report: StatusReport) -> String {
        let gate = report.sending
        switch gate.mode {
        case .paused:
            let since = gate.since.map { " since \(Formatting.localTime($0))" } ?? ""
            let over = gate.pausedUntil.map { $0 <= report.generatedAt } ?? true
            let until = gate.pausedUntil.map { over ? ", ended at \(Formatting.localTime($0))" : ", until \(Formatting.localTime($0))" } ?? ""
            let next = over ? "the next request is a probe that decides" : "one probe job then decides; `cancelq resume` ends it now"
            if gate.code == GateRow.unreachableCode {
                return paint.yellow("WAITING: the gateway cannot be reached") + " (no connection)\(since)\(until) (probe \(gate.maintenanceStreak)); "
                    + "one probe at a time, every few seconds, finds out when it is back; nothing is counted against the jobs"
            }
            return paint.yellow("PAUSED for gateway maintenance") + "\(since)\(until) (pause \(gate.maintenanceStreak)); \(next)"
        case .halted:
            let since = gate.since.map { " since \(Formatting.localTime($0))" } ?? ""
            // paused_until on a halt: a restart or `resume` let one request test the credentials.
            let testing = gate.pausedUntil == nil ? "" : "; one request is testing the credentials (sending resumes unless the gateway rejects them again)"
            return paint.red("HALTED") + "\(since): \(LogText.escaped(gate.reason ?? "credentials rejected", limit: 500))\(testing)"
        case .held:
            let since = gate.since.map { " since \(Formatting.localTime($0))" } ?? ""
            let hold = gate.hold
            let counted = hold.map { $0.enqueued > $0.holdAbove ? "over \(Formatting.count($0.holdAbove))" : Formatting.count($0.enqueued) } ?? "?"
            return paint.red("HELD")
                + "\(since): a surge of new jobs (\(counted) enqueued within \(Formatting.duration(hold?.windowSeconds ?? 0)), limit "
                + "\(Formatting.count(hold?.holdAbove ?? 0))); \(Formatting.count(gate.waiting)) job(s) wait. Check them, withdraw wrong ones "
                + "(cancelq withdraw), then `cancelq approve --db \(LogText.escaped(report.database))` releases the rest"
        case .open:
            return paint.green("open")
        }
    }

    private func row(_ label: String, _ value: String) -> String {
        label.padding(toLength: 10, withPad: " ", startingAt: 0) + value
    }
}
