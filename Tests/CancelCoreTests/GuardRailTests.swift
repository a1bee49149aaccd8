import CancelCore
import Testing
import TestSupport
import ZeusAPI

/// Withdrawal and the surge hold, as the state machine and the gate decide them.
@Suite("Guard rails")
struct GuardRailTests {
    @Test("a queued, waiting, retrying or maintenance-paused job can be withdrawn: final, outcome withdrawn")
    func withdrawBeforeARequestLeaves() throws {
        var pending = Script()
        let pendingDecision = try pending.job.withdraw()
        #expect(pendingDecision == .finish(.withdrawn))
        #expect(pending.job.state == .withdrawn && pending.job.outcome == .withdrawn && pending.job.dueAt == nil)

        var waiting = Script()
        try waiting.on(.discovered, at: t0)
        let waitingDecision = try waiting.job.withdraw()
        #expect(waitingDecision == .finish(.withdrawn))

        var retrying = Script()
        let sentAt = try retrying.sendFirst()
        try retrying.on(.answered(.failure("02189999")), at: sentAt + 1)
        #expect(retrying.job.state == .retrying)
        let retryingDecision = try retrying.job.withdraw()
        #expect(retryingDecision == .finish(.withdrawn))
        #expect(retrying.job.attemptCount == 1, "earlier attempts stay counted")

        var paused = Script()
        let pausedAt = try paused.sendFirst()
        try paused.on(.answered(.maintenance("02000012")), at: pausedAt)
        #expect(paused.job.state == .maintenancePaused)
        let pausedDecision = try paused.job.withdraw()
        #expect(pausedDecision == .finish(.withdrawn))
    }

    @Test("a job whose request is in flight, or a final one, cannot be withdrawn; the reason says why")
    func withdrawTooLate() throws {
        var inFlight = Script()
        _ = try inFlight.sendFirst()
        #expect(throws: ImpossibleEvent.self) { try inFlight.job.withdraw() }
        #expect(inFlight.job.state == .sent)
        do {
            _ = try inFlight.job.withdraw()
        } catch {
            #expect(error.description.hasPrefix("withdraw is not possible in state sent: a request is in flight"))
        }

        var succeeded = Script()
        let at = try succeeded.sendFirst()
        try succeeded.on(.answered(.success()), at: at + 1)
        #expect(throws: ImpossibleEvent.self) { try succeeded.job.withdraw() }
        #expect(succeeded.job.state == .succeeded && succeeded.job.outcome == .cancelled)

        var withdrawn = Script()
        _ = try withdrawn.job.withdraw()
        #expect(throws: ImpossibleEvent.self) { try withdrawn.job.withdraw() }
        // Nothing the daemon sees brings a withdrawn job back to sending.
        #expect(throws: ImpossibleEvent.self) { _ = try withdrawn.on(.due, at: t0 + 100) }
        #expect(throws: ImpossibleEvent.self) { _ = try withdrawn.on(.discovered, at: t0 + 100) }
        #expect(throws: ImpossibleEvent.self) { try withdrawn.job.requeue() }
    }

    @Test("more than hold-above jobs within the window is a surge; exactly hold-above is not; 0 turns it off")
    func surgeRule() {
        let limit = SurgeLimit(holdAbove: 1000, window: 3600)
        #expect(limit.surge(enqueued: 1000, countedFrom: t0) == nil)
        #expect(limit.surge(enqueued: 1001, countedFrom: t0) == Surge(enqueued: 1001, window: 3600, holdAbove: 1000, countedFrom: t0))
        #expect(limit.countCap == 1001)
        #expect(SurgeLimit(holdAbove: 0, window: 3600).surge(enqueued: 1_000_000, countedFrom: t0) == nil)
        // Counting starts at the window's start, or at the last approval when that is later.
        #expect(limit.countingFrom(now: t0, approvedAt: nil) == t0 - 3600)
        #expect(limit.countingFrom(now: t0, approvedAt: t0 - 7200) == t0 - 3600)
        #expect(limit.countingFrom(now: t0, approvedAt: t0 - 60) == t0 - 60)
    }

    @Test("a surge holds sending for every job: no probe, no end time; only an approval releases it")
    func holdNeedsApproval() {
        let limit = SurgeLimit(holdAbove: 10, window: 60)
        var gate = SendingGate.open
        let result1 = gate.surgeCounted(enqueued: 10, countedFrom: t0 - 60, limit: limit, now: t0)
        #expect(!result1)
        #expect(gate == .open)
        let result2 = gate.surgeCounted(enqueued: 11, countedFrom: t0 - 60, limit: limit, now: t0)
        #expect(result2)
        #expect(gate.mode == .held)
        #expect(gate.allowance(now: t0 + 86_400 * 365, probeInFlight: false) == .none(until: nil))
        // A second count keeps the first hold's figures and time.
        let result3 = gate.surgeCounted(enqueued: 5000, countedFrom: t0, limit: limit, now: t0 + 5)
        #expect(!result3)
        #expect(gate == .held(Surge(enqueued: 11, window: 60, holdAbove: 10, countedFrom: t0 - 60), since: t0))
        // Neither answers of requests in flight, nor resume, nor a restart's halt clearing end it.
        gate.nonMaintenanceAnswered(now: t0 + 1)
        gate.credentialsRejected(code: "02130210", now: t0 + 1)
        _ = gate.maintenanceAnswered(now: t0 + 1, policy: exactPolicy)
        gate.resume()
        gate.testCredentialsAfterRestart()
        #expect(gate.mode == .held)
        let result4 = gate.approve()
        #expect(result4)
        #expect(gate == .open)
        let result5 = gate.approve()
        #expect(!result5, "approving with nothing held does nothing")
    }

    @Test("a surge during a maintenance pause or a halt holds too: nothing leaves before an approval")
    func holdOverridesPauseAndHalt() {
        let limit = SurgeLimit(holdAbove: 1, window: 60)
        var paused = SendingGate.paused(until: t0 + 10, streak: 1, since: t0)
        let result6 = paused.surgeCounted(enqueued: 2, countedFrom: t0 - 60, limit: limit, now: t0)
        #expect(result6)
        #expect(paused.allowance(now: t0 + 20, probeInFlight: false) == .none(until: nil), "no probe while held")
        var halted = SendingGate.halted(.credentialsRejected(code: "02130210"), since: t0)
        let result7 = halted.surgeCounted(enqueued: 2, countedFrom: t0 - 60, limit: limit, now: t0)
        #expect(result7)
        #expect(halted.mode == .held)
    }

    @Test("an answer arriving while held finishes or reschedules its job without touching the hold")
    func inFlightAnswerWhileHeld() throws {
        var script = Script()
        let sentAt = try script.sendFirst()
        script.gate.surgeCounted(enqueued: 2, countedFrom: t0, limit: SurgeLimit(holdAbove: 1, window: 60), now: sentAt)
        let decision = try script.on(.answered(.success()), at: sentAt + 1)
        #expect(decision == .finish(.cancelled), "no gate change in the decision")
        #expect(script.gate.mode == .held)
    }
}
