import CancelCore

/// What `requeue` did to one order.
public enum RequeueResult: Equatable, Sendable {
    case requeued(orderNumber: String, previousOutcome: String?)
    case refused(orderNumber: String, reason: String)
}

/// What `withdraw` did to one order.
public enum WithdrawResult: Equatable, Sendable {
    case withdrawn(orderNumber: String, previousState: State)
    case refused(orderNumber: String, reason: String)

    /// Why a job in `state` cannot be withdrawn, the same on every store.
    public static func tooLate(_ state: State, _ error: ImpossibleEvent) -> String {
        switch state {
        case .sent: "too late: a request has already left and waits for its answer (it is sent)"
        case .succeeded, .failed, .withdrawn: "too late: it is already final (\(state.rawValue))"
        case .pending, .waitingDelay, .retrying, .maintenancePaused: error.description
        }
    }
}

/// Why the database refused a withdrawal, from the trigger's named error.
public enum WithdrawalRefusal: Equatable, Sendable, CustomStringConvertible {
    case orderUnknown
    case requestInFlight
    case jobFinal
    /// A completed attempt without the gateway's answer: the request may have cancelled the order.
    case outcomeUnknown

    /// From the trigger's message (or, on PostgreSQL, its constraint name).
    public init?(message: String) {
        if message.contains("withdrawal_order_unknown") {
            self = .orderUnknown
        } else if message.contains("withdrawal_too_late_request_in_flight") {
            self = .requestInFlight
        } else if message.contains("withdrawal_too_late_job_final") {
            self = .jobFinal
        } else if message.contains("withdrawal_too_late_outcome_unknown") {
            self = .outcomeUnknown
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .orderUnknown: "no such order in the queue"
        case .requestInFlight: "too late: a request has already left and waits for its answer (it is sent)"
        case .jobFinal: "too late: it is already final"
        case .outcomeUnknown:
            "too late: an earlier request may have reached the gateway (no definite answer came back); the job goes on until the gateway answers"
        }
    }
}
