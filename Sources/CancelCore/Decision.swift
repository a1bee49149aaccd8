import ZeusAPI

/// Everything the state machine decided about one job for one event, as one value. The daemon
/// performs it in one place; nothing is re-derived by comparing a job before and after.
public struct Decision: Hashable, Sendable, CustomStringConvertible {
    /// What happens to the job next.
    public enum Next: Hashable, Sendable {
        /// Record the attempt durably, then send the request for this order number, which passed
        /// the field rules: the request can always be built.
        case send(OrderNumber)
        /// Nothing before this time, the job's stored due time.
        case wait(until: Double)
        /// Final, with this outcome.
        case finish(Outcome)
        /// Back to `pending` with a fresh attempt budget (an operator's requeue).
        case restart
    }

    /// Something an operator must read beyond the transition itself.
    public enum Notice: Hashable, Sendable {
        /// The gateway says our request itself is malformed: a bug or a proxy altering requests.
        case requestRejected(code: String)
        /// The row said the job was due before the payment (or the enqueue) + the delay.
        case tooEarly(notBefore: Double)
        /// The job's audit trail already holds the gateway's confirmation: not sent again.
        case confirmedBefore
        /// In flight at this many abnormal stops in a row: set aside.
        case quarantined(interruptions: Int)
    }

    public var next: Next
    /// Whether this event used up one of the job's attempts.
    public var countsAttempt: Bool
    /// The sending gate after this event, when the event changed it (a pause, a halt, a reopening).
    public var gate: SendingGate?
    public var notice: Notice?

    public init(_ next: Next, countsAttempt: Bool = false, gate: SendingGate? = nil, notice: Notice? = nil) {
        self.next = next
        self.countsAttempt = countsAttempt
        self.gate = gate
        self.notice = notice
    }

    // Script-like names for tests and call sites: `== .retry(at: t + 30)`.
    public static func send(_ orderNumber: OrderNumber) -> Decision { Decision(.send(orderNumber)) }

    /// Whether the decision sends a request.
    public var sends: Bool {
        if case .send = next { return true }
        return false
    }
    public static func wait(until time: Double) -> Decision { Decision(.wait(until: time)) }
    public static func retry(at time: Double) -> Decision { Decision(.wait(until: time), countsAttempt: true) }
    public static func finish(_ outcome: Outcome, counted: Bool = false) -> Decision {
        Decision(.finish(outcome), countsAttempt: counted)
    }

    public var description: String {
        var text: String
        switch next {
        case .send(let order): text = "send \(order)"
        case .wait(let until): text = "wait until \(until)"
        case .finish(let outcome): text = "finish \(outcome.rawValue)"
        case .restart: text = "restart"
        }
        if countsAttempt { text += ", attempt counted" }
        if let gate { text += ", gate \(gate)" }
        if let notice { text += ", notice \(notice)" }
        return text
    }
}
