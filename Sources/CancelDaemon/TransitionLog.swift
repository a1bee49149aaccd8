import CancelCore
import CancelQueue
import Foundation
import Logging
import ZeusAPI

/// One readable journal line per performed decision: order, attempt, what happened, where it goes
/// next. Times are local with their UTC offset, as in `cancelq status` (README, "Times"). Text from
/// the gateway or the database is escaped (`LogText`): an answer cannot forge a journal line.
struct TransitionLog {
    let logger: Logger
    let clock: @Sendable () -> Double
    let policy: RetryPolicy

    /// What `RunLoop.perform` did for one job, written once its commit is durable.
    struct Entry {
        let decision: Decision
        let before: JobRecord
        let after: JobRecord
        let origin: RunLoop.Origin
    }

    static func time(_ unix: Double) -> String {
        Date(timeIntervalSince1970: unix).formatted(Date.ISO8601FormatStyle(timeZone: .current))
    }

    /// "in 12 s, at …" for a time ahead; "now" for one already passed, never an "until" in the past.
    func when(_ unix: Double) -> String {
        let ahead = unix - clock()
        return ahead <= 0.05 ? "now" : "in \(DurationText.describe(ahead)), at \(Self.time(unix))"
    }

    func describe(_ job: CancellationJob) -> String {
        switch job.state {
        case .succeeded, .failed, .withdrawn:
            return "\(job.state.rawValue) (\(job.outcome?.rawValue ?? "-"))"
        case .retrying, .waitingDelay, .maintenancePaused:
            return "\(job.state.rawValue), next attempt \(job.dueAt.map(when) ?? "once sending resumes")"
        case .pending, .sent:
            return job.state.rawValue
        }
    }

    private var deadlineText: String { "the \(DurationText.describe(policy.deadline)) ZEUS allows a cancellation for" }

    func write(_ entry: Entry) {
        let job = entry.after.job
        let order = "order \(job.orderNumber)"
        switch entry.origin {
        case .discovered:
            var message = "\(order): queued (job \(entry.after.id)) -> \(describe(job))"
            if job.outcome == .rejectedOrderNumber {
                message += "; the order number breaks ZEUS's field rules and was never sent"
            } else if job.outcome == .pastDeadline {
                message += "; the payment is older than \(deadlineText)"
            }
            logger.log(level: job.state == .failed ? .error : .info, "\(message)")
        case .due(let probe):
            dueLine(entry, order: order, probe: probe)
        case .answered(let flight, let outcome, _):
            answeredLine(entry, order: order, attempt: flight.attempt, outcome: outcome)
        case .recovered(let deadDaemon):
            if case .quarantined(let interruptions) = entry.decision.notice {
                logger.error(
                    "\(order): in flight at \(interruptions) abnormal stops in a row; quarantined (failed) so it cannot stop the daemon again. Look at its timeline (cancelq status --order), then `cancelq requeue` it")
            } else if let deadDaemon {
                logger.warning(
                    "\(order): attempt \(entry.before.requestCount) was in flight in daemon \(LogText.escaped(deadDaemon, limit: 80)), which stopped heartbeating; rescued, outcome unknown -> \(describe(job)) (a repeat answers 02180118 if it went through)")
            } else {
                logger.warning(
                    "\(order): attempt \(entry.before.requestCount) was in flight when the previous run stopped; outcome unknown -> \(describe(job)) (a repeat answers 02180118 if it went through)")
            }
        }
    }

    private func dueLine(_ entry: Entry, order: String, probe: Bool) {
        let job = entry.after.job
        switch entry.decision.next {
        case .send:
            logger.info("\(order): attempt \(entry.after.requestCount) sent\(probe ? " (maintenance probe)" : "")")
        case .finish:
            if entry.decision.notice == .confirmedBefore {
                logger.warning(
                    "\(order): not sent: its audit trail already holds the gateway's confirmation (\(job.outcome?.rawValue ?? "-")), but its row was set back to \(entry.before.state.rawValue) (by a rescue after its answer was late, or by another process) -> \(describe(job))")
            } else {
                let why = job.outcome == .pastDeadline
                    ? "the payment is now older than \(deadlineText)" : "the order number no longer passes ZEUS's field rules"
                logger.error("\(order): not sent: \(why) -> \(describe(job))")
            }
        case .wait(let until):
            logger.warning(
                "\(order): its row said due at \(entry.before.job.dueAt.map(Self.time) ?? "-"), earlier than the payment time + the delay allows (changed by another process?); not sent before \(Self.time(until))")
        case .restart:
            break
        }
    }

    private func answeredLine(_ entry: Entry, order: String, attempt: Int, outcome: TransportOutcome) {
        let job = entry.after.job
        let what: String
        var level: Logger.Level = .info
        switch outcome {
        case .answered(_, let response):
            let meaning = CodeTable.meaning(status: response.status, code: response.code).map { " (\($0))" } ?? ""
            what = "\(LogText.escaped(response.status, limit: 40))/\(LogText.escaped(response.code, limit: 40))\(meaning)"
        case .failed(let failure, _):
            what = "no answer: \(LogText.escaped(failure.description))"
            level = .warning
        }
        if case .requestRejected(let code) = entry.decision.notice {
            logger.error(
                "\(order): the gateway rejected our request itself (\(LogText.escaped(code, limit: 40)): \(CodeTable.meaning(of: code) ?? "?")); this is a bug or a proxy altering requests: report it with this line")
        }
        if job.state == .failed { level = .error }
        logger.log(level: level, "\(order): attempt \(attempt): \(what) -> \(describe(job))")
    }

    /// A change of the sending gate, said once, after the commit that saved it.
    func announce(_ gate: SendingGate) {
        switch gate {
        case .open:
            logger.notice("the gateway answers again: sending resumed for every job")
        case .paused(let until, let streak, _):
            logger.warning(
                "the gateway is in maintenance: sending paused (pause \(streak)); one probe job goes \(when(until)) and decides whether sending resumes")
        case .unreachable(let until, let streak, let since):
            logger.warning(
                "the gateway cannot be reached (no connection since \(TransitionLog.time(since))): sending waits for every job, nothing is counted against them; probe \(streak + 1) goes \(when(until))")
        case .halted(let reason, _):
            logger.critical("SENDING HALTED: \(reason.explanation). No job is consumed meanwhile; `cancelq status` shows the halt")
        case .testingCredentials(let reason, _):
            logger.notice(
                "sending is halted (\(LogText.escaped(reason.code))) while one request tests the credentials; it resumes unless the gateway rejects them again")
        case .held(let surge, _):
            logger.critical(
                "SENDING HELD: \(surge) (--hold-above \(surge.holdAbove), --hold-window \(DurationText.describe(surge.window))). Requests in flight finish; nothing else leaves before an operator checks the queue and runs `cancelq approve`")
        }
    }

    /// An operator's approval, seen by the daemon as a gate changed by another process.
    func released(from previous: SendingGate, to now: SendingGate) {
        guard case .held = previous, now == .open else { return }
        logger.notice("the surge hold was released by `cancelq approve`: sending resumes for every job")
    }

    /// Writes that met a row another process had changed meanwhile.
    func tampered(_ writes: [TamperedWrite]) {
        for write in writes {
            let answer = write.attempt.map { "; its answer: \($0)" } ?? ""
            if write.jobUpdated {
                logger.error(
                    "order \(write.orderNumber) (job \(write.id)): its open attempt row was changed behind the daemon's back\(answer); the job moved on as decided. Only cancelq should write cancellation_attempts")
                continue
            }
            if write.arrivedAfterRescue {
                // This daemon could not heartbeat within its lease; another one took the job over.
                logger.warning(
                    "order \(write.orderNumber) (job \(write.id)): its answer came after another daemon rescued the job (this daemon could not heartbeat within its lease)\(answer); the job stays as the rescue left it\(write.found.map { " (\(LogText.escaped($0, limit: 40)))" } ?? "")")
                continue
            }
            if let refusal = write.refusal {
                logger.error(
                    "order \(write.orderNumber) (job \(write.id)): the database refused its write (\(LogText.escaped(refusal, limit: 500)))\(write.isClaim ? "; not sent" : "")\(answer). A trigger or constraint on cancelq's tables is not cancelq's: `cancelq status --check` names it")
                continue
            }
            if write.found == State.withdrawn.rawValue {
                // Withdrawn by its application or an operator while the daemon held it: the contract.
                logger.notice(
                    "order \(write.orderNumber) (job \(write.id)): withdrawn before its request left\(write.isClaim ? "; not sent" : "")\(answer)")
                continue
            }
            let now = write.found.map { "is now \(LogText.escaped($0, limit: 40))" } ?? "was deleted"
            logger.error(
                "order \(write.orderNumber) (job \(write.id)): changed behind the daemon's back: expected \(write.expected.rawValue), the row \(now). Left as the other writer set it\(answer). Only cancelq should change job states")
        }
    }
}
