import CancelCore
import Foundation
import CancelStore
import Logging
import ZeusAPI

/// One readable journal line per transition: order, attempt, what happened, where it goes next.
/// Times are local with their UTC offset, as in `cancelq status` (README, "Times").
struct TransitionLog {
    let logger: Logger
    let clock: @Sendable () -> Double

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

    func discovered(_ job: CancellationJob, id: Int64) {
        let level: Logger.Level = job.state == .failed ? .error : .info
        var message = "order \(job.orderNumber): queued (job \(id)) -> \(describe(job))"
        if job.outcome == .rejectedOrderNumber {
            message += "; the order number breaks ZEUS's field rules and was never sent"
        } else if job.outcome == .pastDeadline {
            message += "; the payment is older than the 240 days ZEUS allows a cancellation for"
        }
        logger.log(level: level, "\(message)")
    }

    /// A job that came due but was not sent: it ended (order number, deadline, a confirmation
    /// already in its audit trail) or its row promised a due time earlier than the delay allows.
    func notSentAtDue(before: CancellationJob, after job: CancellationJob) {
        switch job.state {
        case .succeeded:
            logger.warning(
                "order \(job.orderNumber): not sent: its audit trail already holds the gateway's confirmation (\(job.outcome?.rawValue ?? "-")), but its row was set back to \(before.state.rawValue) by another process -> \(describe(job))")
        case .failed:
            let why = job.outcome == .pastDeadline
                ? "the payment is now older than the 240 days ZEUS allows a cancellation for"
                : "the order number no longer passes ZEUS's field rules"
            logger.error("order \(job.orderNumber): not sent: \(why) -> \(describe(job))")
        default:
            logger.warning(
                "order \(job.orderNumber): its row said due at \(before.dueAt.map(Self.time) ?? "-"), earlier than the payment time + the delay allows (changed by another process?); not sent before \(job.dueAt.map(Self.time) ?? "-")")
        }
    }

    /// Writes that met a row another process had changed meanwhile.
    func tampered(_ writes: [CancelStore.TamperedWrite]) {
        for write in writes {
            let answer = write.attempt.map { "; its answer: \($0)" } ?? ""
            if write.jobUpdated {
                logger.error(
                    "order \(write.orderNumber) (job \(write.id)): its open attempt row was changed behind the daemon's back\(answer); the job moved on as decided. Only cancelq should write cancellation_attempts")
                continue
            }
            let now = write.found.map { "is now \(LogText.escaped($0, limit: 40))" } ?? "was deleted"
            logger.error(
                "order \(write.orderNumber) (job \(write.id)): changed behind the daemon's back: expected \(write.expected.rawValue), the row \(now). Left as the other writer set it\(answer). Only cancelq should change job states")
        }
    }

    func sent(_ job: CancellationJob, attempt: Int, probe: Bool) {
        logger.info("order \(job.orderNumber): attempt \(attempt) sent\(probe ? " (maintenance probe)" : "")")
    }

    func answered(_ job: CancellationJob, attempt: Int, outcome: TransportOutcome, actions: [JobAction]) {
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
        for action in actions {
            if case .reportRequestRejected(let code) = action {
                logger.error(
                    "order \(job.orderNumber): the gateway rejected our request itself (\(LogText.escaped(code, limit: 40)): \(CodeTable.meaning(of: code) ?? "?")); this is a bug or a proxy altering requests: report it with this line")
            }
        }
        if job.state == .failed { level = .error }
        logger.log(level: level, "order \(job.orderNumber): attempt \(attempt): \(what) -> \(describe(job))")
    }
}
