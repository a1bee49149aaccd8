/// One cancellation as the state machine sees it: a value, an event in, actions out, `now` passed in.
///
/// `CancelCore` decides; the daemon performs the actions and stores the result. Every `switch` is
/// exhaustive so that a new state or answer class cannot slip through unhandled.
public struct CancellationJob: Hashable, Sendable {
    public let orderNumber: String
    /// Unix seconds of the PayRes success, when the application gave it.
    public let paidAt: Double?
    public let enqueuedAt: Double
    public private(set) var state: State
    /// Attempts that count against the limit.
    public private(set) var attemptCount: Int
    public private(set) var dueAt: Double?
    public private(set) var outcome: Outcome?
    /// Abnormal stops (crash, SIGKILL) this job was in flight at, in a row.
    public private(set) var interruptions: Int
    /// What the gateway already confirmed for this job, by its audit trail (`cancelled` or
    /// `already-cancelled`): such a job is never sent again, even if its row was edited back.
    public let confirmed: Outcome?

    /// A job in flight at this many abnormal stops in a row is quarantined instead of resent.
    public static let quarantineAfterInterruptions = 3

    public init(
        orderNumber: String, paidAt: Double?, enqueuedAt: Double, state: State = .pending,
        attemptCount: Int = 0, dueAt: Double? = nil, outcome: Outcome? = nil, interruptions: Int = 0,
        confirmed: Outcome? = nil
    ) {
        self.confirmed = confirmed
        self.orderNumber = orderNumber
        self.paidAt = paidAt
        self.enqueuedAt = enqueuedAt
        self.state = state
        self.attemptCount = attemptCount
        self.dueAt = dueAt
        self.outcome = outcome
        self.interruptions = interruptions
    }

    /// The earliest time a request may leave: the payment (or the enqueue) plus the delay ZEUS
    /// asks for. Checked at every send, whatever the stored due time says.
    public func earliestSend(_ policy: RetryPolicy) -> Double { paymentTime + policy.delayAfterPayment }

    /// The time the delay and the deadline count from.
    public var paymentTime: Double { paidAt ?? enqueuedAt }

    /// Applies `event`. `gate` is the sending gate of the whole daemon: some answers pause or halt it.
    /// `random` draws the retry jitter, so tests pass a seeded generator.
    public mutating func handle(
        _ event: JobEvent, gate: inout SendingGate, policy: RetryPolicy, now: Double,
        random: inout some RandomNumberGenerator
    ) throws(ImpossibleEvent) -> [JobAction] {
        switch (state, event) {
        case (.pending, .discovered):
            return discover(policy: policy, now: now)

        case (.waitingDelay, .due), (.retrying, .due), (.maintenancePaused, .due):
            // Checked again at the last moment: a row edited after discovery (its due time set to
            // the past, say) is never sent early.
            if let confirmed {
                // The audit trail holds the gateway's confirmation: another request would be a
                // second cancellation of the same order.
                return finish(.succeeded, confirmed, now: now)
            }
            let notBefore = max(dueAt ?? -Double.infinity, earliestSend(policy))
            if now < notBefore {
                dueAt = notBefore
                return [.schedule(at: notBefore)]
            }
            guard (try? OrderNumber(validating: orderNumber)) != nil else {
                return finish(.failed, .rejectedOrderNumber, now: now)
            }
            if now > paymentTime + policy.deadline {
                return finish(.failed, .pastDeadline, now: now)
            }
            state = .sent
            dueAt = nil
            return [.send]

        case (.sent, .answered(let gatewayAnswer)):
            interruptions = 0
            return answer(gatewayAnswer, gate: &gate, policy: policy, now: now, random: &random)

        case (.sent, .transportFailed):
            interruptions = 0
            return countFailure(giveUpAs: .gaveUp, policy: policy, now: now, random: &random)

        case (.sent, .recoveredAfterCrash):
            interruptions = Self.saturatingIncrement(interruptions)
            if interruptions >= Self.quarantineAfterInterruptions {
                // Whatever stopped the daemon with this job in flight may stop it again.
                return finish(.failed, .quarantined, now: now)
            }
            return countFailure(giveUpAs: .gaveUp, policy: policy, now: now, random: &random)

        case (.failed, .operatorRequeue):
            state = .pending
            attemptCount = 0
            interruptions = 0
            dueAt = nil
            outcome = nil
            return []

        case (.pending, _), (.waitingDelay, _), (.retrying, _), (.maintenancePaused, _), (.sent, _),
            (.succeeded, _), (.failed, _), (.withdrawn, _):
            throw impossible(event, reasonForImpossible(event))
        }
    }

    private mutating func discover(policy: RetryPolicy, now: Double) -> [JobAction] {
        guard (try? OrderNumber(validating: orderNumber)) != nil else {
            return finish(.failed, .rejectedOrderNumber, now: now)
        }
        if now > paymentTime + policy.deadline {
            return finish(.failed, .pastDeadline, now: now)
        }
        state = .waitingDelay
        let due = earliestSend(policy)
        dueAt = due
        return [.schedule(at: due)]
    }

    private mutating func answer(
        _ answer: GatewayAnswer, gate: inout SendingGate, policy: RetryPolicy, now: Double,
        random: inout some RandomNumberGenerator
    ) -> [JobAction] {
        let kind = CodeTable.classify(answer)
        if kind != .maintenance {
            gate.nonMaintenanceAnswered(now: now)
        }
        switch kind {
        case .cancelled:
            return finish(.succeeded, .cancelled, now: now)
        case .alreadyCancelled:
            return finish(.succeeded, .alreadyCancelled, now: now)
        case .orderNotFound:
            // The payment may not be visible at the gateway yet.
            return countFailure(giveUpAs: .orderNotFound, policy: policy, now: now, random: &random)
        case .paymentRefused:
            return countFailure(giveUpAs: .gaveUp, policy: policy, now: now, random: &random)
        case .unrecognised:
            return countFailure(giveUpAs: .unrecognisedAnswer, policy: policy, now: now, random: &random)
        case .requestRejected:
            return [.reportRequestRejected(code: answer.code)] + finish(.failed, .requestRejected, now: now)
        case .credentialsRejected:
            // Not this job's fault: back to waiting, attempt not counted, everything halts.
            gate.credentialsRejected(code: answer.code, now: now)
            state = .waitingDelay
            dueAt = now
            guard case .halted(let reason, _) = gate else { return [.schedule(at: now)] }
            return [.haltSending(reason), .schedule(at: now)]
        case .maintenance:
            let until = gate.maintenanceAnswered(now: now, policy: policy)
            state = .maintenancePaused
            dueAt = until
            return [.pauseSending(until: until), .schedule(at: until)]
        }
    }

    private mutating func countFailure(
        giveUpAs finalOutcome: Outcome, policy: RetryPolicy, now: Double,
        random: inout some RandomNumberGenerator
    ) -> [JobAction] {
        attemptCount = Self.saturatingIncrement(attemptCount)
        guard attemptCount < policy.maxAttempts else {
            return finish(.failed, finalOutcome, now: now)
        }
        let unit = Double.random(in: 0..<1, using: &random)
        let next = now + policy.backoff(afterAttempts: attemptCount, unit: unit)
        state = .retrying
        dueAt = next
        return [.schedule(at: next)]
    }

    private mutating func finish(_ final: State, _ outcome: Outcome, now: Double) -> [JobAction] {
        state = final
        self.outcome = outcome
        dueAt = nil
        return [.finish(outcome)]
    }

    /// Counts come from a database any writer can edit: one at `Int.max` must not trap the daemon.
    static func saturatingIncrement(_ value: Int) -> Int { value == .max ? .max : max(0, value) + 1 }

    private func impossible(_ event: JobEvent, _ reason: String) -> ImpossibleEvent {
        ImpossibleEvent(state: state, event: event, reason: reason)
    }

    private func reasonForImpossible(_ event: JobEvent) -> String {
        switch state {
        case .succeeded: "the gateway confirmed the cancellation; nothing may change it"
        case .failed: "a failed job moves only by an operator's requeue"
        case .withdrawn: "the job was withdrawn before a request left; nothing may change it"
        case .sent: "a request is in flight; only its answer, a transport failure or a crash recovery follows"
        case .pending: "a new job must first be discovered"
        case .waitingDelay, .retrying, .maintenancePaused:
            event == .operatorRequeue ? "only failed jobs can be requeued" : "the job is waiting to be sent"
        }
    }
}
