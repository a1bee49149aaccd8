/// Where one cancellation job stands. The raw values are the database contract.
public enum State: String, Sendable, CaseIterable, Codable {
    case pending
    case waitingDelay = "waiting-delay"
    case sent
    case succeeded
    case failed
    case retrying
    case maintenancePaused = "maintenance-paused"
    /// Taken back by its application or an operator before a request left.
    case withdrawn

    /// `succeeded`, `failed` and `withdrawn` never change again (only an operator's requeue moves
    /// `failed`).
    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .withdrawn: true
        case .pending, .waitingDelay, .sent, .retrying, .maintenancePaused: false
        }
    }

    /// States from which a job is sent when its due time comes.
    public var isAwaitingSend: Bool {
        switch self {
        case .waitingDelay, .retrying, .maintenancePaused: true
        case .pending, .sent, .succeeded, .failed, .withdrawn: false
        }
    }
}

/// Why a job became final. The raw values are stored in `cancellations.outcome`.
public enum Outcome: String, Sendable, CaseIterable, Codable {
    /// The gateway answered `success`.
    case cancelled
    /// The gateway answered `02180118`: normal after an attempt whose answer was lost.
    case alreadyCancelled = "already-cancelled"
    /// The order number breaks the field rules; it was never sent.
    case rejectedOrderNumber = "rejected-order-number"
    /// `02180114` until the attempt limit.
    case orderNotFound = "order-not-found"
    /// The gateway said our request itself is malformed; retrying cannot help.
    case requestRejected = "request-rejected"
    /// Refusals or transport failures until the attempt limit.
    case gaveUp = "gave-up"
    /// Answers the code table does not know, until the attempt limit.
    case unrecognisedAnswer = "unrecognised-answer"
    /// The payment is older than ZEUS allows a cancellation for.
    case pastDeadline = "past-deadline"
    /// In flight at three abnormal stops in a row: set aside so it cannot crash the daemon again.
    case quarantined
    /// Taken back before a request left.
    case withdrawn
}
