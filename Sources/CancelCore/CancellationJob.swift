import ZeusAPI

/// One cancellation as the state machine sees it: a value, an event in, a `Decision` out, `now`
/// passed in.
///
/// `CancelCore` decides; the daemon performs the decision and stores the result. Every `switch` is
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

    /// The time the delay and the deadline count from.
    public var paymentTime: Double { paidAt ?? enqueuedAt }

    /// The earliest time a request may leave: the payment (or the enqueue) plus the delay ZEUS
    /// asks for. Checked at every send, whatever the stored due time says.
    public func earliestSend(_ policy: RetryPolicy) -> Double { paymentTime + policy.delayAfterPayment }

    /// Applies `event`. `gate` is the sending gate of the whole daemon: a decision that changes it
    /// carries the new gate. `random` draws the retry jitter, so tests pass a seeded generator.
    public mutating func handle(
        _ event: JobEvent, gate: SendingGate, policy: RetryPolicy, now: Double,
        random: inout some RandomNumberGenerator
    ) throws(ImpossibleEvent) -> Decision {
        switch (state, event) {
        case (.pending, .discovered):
            return discover(policy: policy, now: now)

        case (.waitingDelay, .due), (.retrying, .due), (.maintenancePaused, .due):
            return due(policy: policy, now: now)

        case (.sent, .answered(let gatewayAnswer)):
            interruptions = 0
            return answer(gatewayAnswer, gate: gate, policy: policy, now: now, random: &random)

        case (.sent, .transportFailed(.notSent)):
            // Nothing reached the gateway: due again at once, and no attempt is used up.
            state = .retrying
            dueAt = now
            return .wait(until: now)

        case (.sent, .transportFailed(.unreachable)), (.sent, .transportFailed(.connectionRefused)):
            // Nothing reached the gateway, and nothing will until it can be reached: every job
            // waits, one probe finds out when; no attempt is used up.
            interruptions = 0
            var after = gate
            let due = after.couldNotConnect(now: now)
            state = .retrying
            dueAt = due
            var decision = Decision.wait(until: due)
            if after != gate { decision.gate = after }
            return decision

        case (.sent, .transportFailed):
            interruptions = 0
            return countFailure(giveUpAs: .gaveUp, policy: policy, now: now, random: &random)

        case (.sent, .recoveredAfterCrash):
            interruptions = Self.saturatingIncrement(interruptions)
            if interruptions >= Self.quarantineAfterInterruptions {
                // Whatever stopped the daemon with this job in flight may stop it again.
                var decision = finish(.failed, .quarantined, counted: false)
                decision.notice = .quarantined(interruptions: interruptions)
                return decision
            }
            return countFailure(giveUpAs: .gaveUp, policy: policy, now: now, random: &random)

        case (.pending, _), (.waitingDelay, _), (.retrying, _), (.maintenancePaused, _), (.sent, _),
            (.succeeded, _), (.failed, _), (.withdrawn, _):
            throw impossible(event, reasonForImpossible(event))
        }
    }

    /// `cancelq requeue`: a failed job goes back to `pending` with a fresh attempt budget. Needs no
    /// gate, policy or random source: nothing about sending is decided here.
    public mutating func requeue() throws(ImpossibleEvent) -> Decision {
        guard state == .failed else {
            throw ImpossibleEvent(
                state: state, event: nil,
                reason: state == .succeeded || state == .withdrawn || state == .sent
                    ? reasonForImpossible(nil) : "only failed jobs can be requeued")
        }
        state = .pending
        attemptCount = 0
        interruptions = 0
        dueAt = nil
        outcome = nil
        return Decision(.restart)
    }

    /// A withdrawal (by the application or an operator): only before a request has left. A job
    /// between attempts can be withdrawn; its earlier attempts stay in the audit trail.
    public mutating func withdraw() throws(ImpossibleEvent) -> Decision {
        switch state {
        case .pending, .waitingDelay, .retrying, .maintenancePaused:
            return finish(.withdrawn, .withdrawn, counted: false)
        case .sent, .succeeded, .failed, .withdrawn:
            throw ImpossibleEvent(state: state, event: nil, reason: reasonForImpossible(nil), command: "withdraw")
        }
    }

    private mutating func discover(policy: RetryPolicy, now: Double) -> Decision {
        guard (try? OrderNumber(validating: orderNumber)) != nil else {
            return finish(.failed, .rejectedOrderNumber, counted: false)
        }
        if now > paymentTime + policy.deadline {
            return finish(.failed, .pastDeadline, counted: false)
        }
        state = .waitingDelay
        let due = earliestSend(policy)
        dueAt = due
        return .wait(until: due)
    }

    private mutating func due(policy: RetryPolicy, now: Double) -> Decision {
        if let confirmed {
            // The audit trail holds the gateway's confirmation: another request would be a second
            // cancellation of the same order.
            var decision = finish(.succeeded, confirmed, counted: false)
            decision.notice = .confirmedBefore
            return decision
        }
        // Checked again at the last moment: a row edited after discovery (its due time set to the
        // past, say) is never sent early.
        let notBefore = max(dueAt ?? -Double.infinity, earliestSend(policy))
        if now < notBefore {
            dueAt = notBefore
            return Decision(.wait(until: notBefore), notice: .tooEarly(notBefore: notBefore))
        }
        guard let validated = try? OrderNumber(validating: orderNumber) else {
            return finish(.failed, .rejectedOrderNumber, counted: false)
        }
        if now > paymentTime + policy.deadline {
            return finish(.failed, .pastDeadline, counted: false)
        }
        state = .sent
        dueAt = nil
        return .send(validated)
    }

    private mutating func answer(
        _ answer: GatewayAnswer, gate: SendingGate, policy: RetryPolicy, now: Double,
        random: inout some RandomNumberGenerator
    ) -> Decision {
        let kind = CodeTable.classify(answer)
        var after = gate
        if kind != .maintenance {
            after.nonMaintenanceAnswered(now: now)
        }
        var decision: Decision
        switch kind {
        case .cancelled:
            decision = finish(.succeeded, .cancelled, counted: false)
        case .alreadyCancelled:
            decision = finish(.succeeded, .alreadyCancelled, counted: false)
        case .orderNotFound:
            // The payment may not be visible at the gateway yet.
            decision = countFailure(giveUpAs: .orderNotFound, policy: policy, now: now, random: &random)
        case .paymentRefused:
            decision = countFailure(giveUpAs: .gaveUp, policy: policy, now: now, random: &random)
        case .unrecognised:
            decision = countFailure(giveUpAs: .unrecognisedAnswer, policy: policy, now: now, random: &random)
        case .requestRejected:
            decision = finish(.failed, .requestRejected, counted: false)
            decision.notice = .requestRejected(code: answer.code)
        case .credentialsRejected:
            // Not this job's fault: back to waiting, attempt not counted, everything halts.
            after.credentialsRejected(code: answer.code, now: now)
            state = .waitingDelay
            dueAt = now
            decision = .wait(until: now)
        case .maintenance:
            let until = after.maintenanceAnswered(now: now, policy: policy)
            state = .maintenancePaused
            dueAt = until
            decision = .wait(until: until)
        }
        if after != gate { decision.gate = after }
        return decision
    }

    private mutating func countFailure(
        giveUpAs finalOutcome: Outcome, policy: RetryPolicy, now: Double,
        random: inout some RandomNumberGenerator
    ) -> Decision {
        attemptCount = Self.saturatingIncrement(attemptCount)
        guard attemptCount < policy.maxAttempts else {
            return finish(.failed, finalOutcome, counted: true)
        }
        let unit = Double.random(in: 0..<1, using: &random)
        let next = now + policy.backoff(afterAttempts: attemptCount, unit: unit)
        state = .retrying
        dueAt = next
        return .retry(at: next)
    }

    private mutating func finish(_ final: State, _ outcome: Outcome, counted: Bool) -> Decision {
        state = final
        self.outcome = outcome
        dueAt = nil
        return .finish(outcome, counted: counted)
    }

    /// Counts come from a database any writer can edit: one at `Int.max` must not trap the daemon.
    static func saturatingIncrement(_ value: Int) -> Int { value == .max ? .max : max(0, value) + 1 }

    private func impossible(_ event: JobEvent, _ reason: String) -> ImpossibleEvent {
        ImpossibleEvent(state: state, event: event, reason: reason)
    }

    private func reasonForImpossible(_ event: JobEvent?) -> String {
        switch state {
        case .succeeded: "the gateway confirmed the cancellation; nothing may change it"
        case .failed: "a failed job moves only by an operator's requeue"
        case .withdrawn: "the job was withdrawn before a request left; nothing may change it"
        case .sent: "a request is in flight; only its answer, a transport failure or a crash recovery follows"
        case .pending: "a new job must first be discovered"
        case .waitingDelay, .retrying, .maintenancePaused: "the job is waiting to be sent"
        }
    }
}
