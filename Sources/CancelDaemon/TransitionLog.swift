import CancelCore
import Foundation
import Logging

/// One readable journal line per transition: order, attempt, what happened, where it goes next.
struct TransitionLog {
    let logger: Logger

    static func time(_ unix: Double) -> String {
        Date(timeIntervalSince1970: unix).ISO8601Format()
    }

    func describe(_ job: CancellationJob) -> String {
        switch job.state {
        case .succeeded, .failed, .withdrawn:
            return "\(job.state.rawValue) (\(job.outcome?.rawValue ?? "-"))"
        case .retrying:
            return "retrying, next attempt at \(job.dueAt.map(Self.time) ?? "once sending resumes")"
        case .waitingDelay, .maintenancePaused:
            return "\(job.state.rawValue) until \(job.dueAt.map(Self.time) ?? "sending resumes")"
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

    /// A job that ended when it came due, without a request (the order number or the deadline).
    func endedAtDue(_ job: CancellationJob) {
        let why = job.outcome == .pastDeadline
            ? "the payment is now older than the 240 days ZEUS allows a cancellation for"
            : "the order number no longer passes ZEUS's field rules"
        logger.error("order \(job.orderNumber): not sent: \(why) -> \(describe(job))")
    }

    func sent(_ job: CancellationJob, attempt: Int, probe: Bool) {
        logger.info("order \(job.orderNumber): attempt \(attempt) sent\(probe ? " (maintenance probe)" : "")")
    }

    func answered(_ job: CancellationJob, attempt: Int, outcome: TransportOutcome, actions: [JobAction]) {
        let what: String
        var level: Logger.Level = .info
        switch outcome {
        case .answered(_, let response):
            let meaning = CodeTable.meaning(of: response.code).map { " (\($0))" } ?? ""
            what = "\(response.status)/\(response.code)\(meaning)"
        case .failed(let failure, _):
            what = "no answer: \(failure)"
            level = .warning
        }
        for action in actions {
            if case .reportRequestRejected(let code) = action {
                logger.error(
                    "order \(job.orderNumber): the gateway rejected our request itself (\(code): \(CodeTable.meaning(of: code) ?? "?")); this is a bug or a proxy altering requests: report it with this line")
            }
        }
        if job.state == .failed { level = .error }
        logger.log(level: level, "order \(job.orderNumber): attempt \(attempt): \(what) -> \(describe(job))")
    }
}
