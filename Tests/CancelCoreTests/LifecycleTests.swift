import CancelCore
import ZeusAPI
import Testing
import TestSupport

/// Whole lives of a job, read like a story.
@Suite("Lifecycles")
struct LifecycleTests {
    @Test("paid now, waits 10 s, fails once, retries after a jittered 30 s, then succeeds")
    func failureThenSuccess() throws {
        var script = Script(policy: .standard, seed: 42)
        #expect(try script.on(.discovered, at: t0) == .wait(until: t0 + 10))
        #expect(script.job.state == .waitingDelay)
        // Due too early (a row edited behind the daemon's back): never sent, rescheduled.
        #expect(try script.on(.due, at: t0 + 9.9) == Decision(.wait(until: t0 + 10), notice: .tooEarly(notBefore: t0 + 10)))
        #expect(script.job.state == .waitingDelay)
        #expect(try script.on(.due, at: t0 + 10) == .send(try OrderNumber(validating: "ORDER-1")), "sends exactly the order given")
        #expect(script.job.state == .sent)
        let actions = try script.on(.answered(.failure("02189999")), at: t0 + 11)
        guard case .wait(let retryAt) = actions.next, actions.countsAttempt else {
            Issue.record("expected a counted retry, got \(actions)")
            return
        }
        // 30 s shortened by at most the 20 % jitter.
        #expect(retryAt >= t0 + 11 + 24 && retryAt <= t0 + 11 + 30)
        #expect(script.job.state == .retrying)
        #expect(try script.on(.due, at: retryAt).sends)
        #expect(try script.on(.answered(.success()), at: retryAt + 1) == .finish(.cancelled))
        #expect(script.job.attemptCount == 1)
    }

    @Test("lost answer: timeout, resend, 02180118, succeeded as already cancelled")
    func lostAnswer() throws {
        var script = Script()
        let sentAt = try script.sendFirst()
        #expect(try script.on(.transportFailed(.timeout), at: sentAt + 30) == .retry(at: sentAt + 60))
        try script.on(.due, at: sentAt + 60)
        #expect(try script.on(.answered(.invalid("02180118")), at: sentAt + 61) == .finish(.alreadyCancelled))
        #expect(script.job.state == .succeeded)
    }

    @Test("maintenance: paused with attempts unchanged, one probe after the pause, success reopens sending")
    func maintenanceThenProbe() throws {
        var script = Script()
        let sentAt = try script.sendFirst()
        try script.on(.answered(.maintenance("02000012")), at: sentAt)
        #expect(script.gate.allowance(now: sentAt + 100, probeInFlight: false) == .none(until: sentAt + 300))
        // The probe finds maintenance still on: the pause doubles.
        try script.on(.due, at: sentAt + 300)
        #expect(try script.on(.answered(.maintenance("02000012")), at: sentAt + 300)
            == Decision(.wait(until: sentAt + 900), gate: .paused(until: sentAt + 900, streak: 2, since: sentAt)))
        #expect(script.gate == .paused(until: sentAt + 900, streak: 2, since: sentAt))
        try script.on(.due, at: sentAt + 900)
        // The probe's answer carries the reopening of the gate in its decision.
        #expect(try script.on(.answered(.success()), at: sentAt + 901) == Decision(.finish(.cancelled), gate: .open))
        #expect(script.gate == .open)
        #expect(script.job.attemptCount == 0)
    }

    @Test("an answer to a request sent before the pause neither lengthens nor ends it")
    func concurrentAnswersDuringPause() throws {
        var gate = SendingGate.open
        let until = gate.maintenanceAnswered(now: t0, policy: exactPolicy)
        #expect(gate.maintenanceAnswered(now: t0 + 1, policy: exactPolicy) == until)
        let reopened = gate.nonMaintenanceAnswered(now: t0 + 2)
        #expect(!reopened)
        #expect(gate == .paused(until: until, streak: 1, since: t0))
    }

    @Test("credential rejection halts everything; resume lets ONE request test the credentials, and only its answer reopens")
    func credentialHalt() throws {
        var script = Script()
        let sentAt = try script.sendFirst()
        try script.on(.answered(.invalid("02130210")), at: sentAt)
        guard case .halted(let reason, let since) = script.gate else {
            Issue.record("not halted: \(script.gate)")
            return
        }
        #expect(reason.code == "02130210")
        #expect(since == sentAt)
        let lifted = script.gate.nonMaintenanceAnswered(now: sentAt + 1)
        #expect(!lifted)
        script.gate.resume(now: sentAt + 2)
        #expect(script.gate == .testingCredentials(reason, since: sentAt))
        #expect(script.gate.mode == .halted, "still shown as halted while the test is out")
        #expect(script.gate.allowance(now: sentAt + 2, probeInFlight: false) == .probe)
        #expect(script.gate.allowance(now: sentAt + 2, probeInFlight: true) == .none(until: nil))
        #expect(try script.on(.due, at: sentAt + 2).sends)
        try script.on(.answered(.success()), at: sentAt + 3)
        #expect(script.gate == .open)
    }

    @Test("a test of the credentials that is rejected again halts as before: one request per restart with a wrong key")
    func credentialTestRejected() {
        let reason = HaltReason.credentialsRejected(code: "02130210")
        var gate = SendingGate.halted(reason, since: t0)
        let testing = gate.testCredentialsAfterRestart()
        #expect(testing)
        #expect(gate == .testingCredentials(reason, since: t0))
        gate.credentialsRejected(code: "02130110", now: t0 + 60)
        #expect(gate == .halted(.credentialsRejected(code: "02130110"), since: t0))
        #expect(gate.allowance(now: t0 + 61, probeInFlight: false) == .none(until: nil))
        // Already testing: resume changes nothing (no second request while the first is out).
        var again = SendingGate.testingCredentials(reason, since: t0)
        #expect(again.resumed(now: t0 + 1) == nil)
        again.resume(now: t0 + 1)
        #expect(again == .testingCredentials(reason, since: t0))
    }

    @Test("a restart keeps a stored halt (to be tested by one request) and a maintenance pause as they are")
    func restartKeepsHaltForATest() {
        let reason = HaltReason.credentialsRejected(code: "02130210")
        var halted = SendingGate.halted(reason, since: t0)
        let haltTested = halted.testCredentialsAfterRestart()
        #expect(haltTested)
        #expect(halted == .testingCredentials(reason, since: t0))
        var paused = SendingGate.paused(until: t0 + 300, streak: 1, since: t0)
        let pauseTested = paused.testCredentialsAfterRestart()
        #expect(!pauseTested)
        #expect(paused == .paused(until: t0 + 300, streak: 1, since: t0))
        // On a shared queue: another daemon's rejection wins over the test; the test's answer opens.
        #expect(SendingGate.testingCredentials(reason, since: t0).reconciled(withStored: .halted(reason, since: t0), now: t0) == .halted(reason, since: t0))
        #expect(SendingGate.open.reconciled(withStored: .testingCredentials(reason, since: t0), now: t0) == .open)
        #expect(SendingGate.halted(reason, since: t0).reconciled(withStored: .testingCredentials(reason, since: t0), now: t0) == .halted(reason, since: t0))
    }

    @Test("a crash while sent: retrying now, counted, resent")
    func crashRecovery() throws {
        var script = Script()
        let sentAt = try script.sendFirst()
        #expect(try script.on(.recoveredAfterCrash, at: sentAt + 5) == .retry(at: sentAt + 35))
        #expect(script.job.state == .retrying)
        #expect(script.job.attemptCount == 1)
    }

    @Test("a fresh payment is due at paid_at + delay, a backdated one at once")
    func dueTimes() throws {
        var fresh = Script(paidAt: t0 + 3)
        #expect(try fresh.on(.discovered, at: t0 + 3) == .wait(until: t0 + 13))
        var old = Script(paidAt: t0 - 3600)
        #expect(try old.on(.discovered, at: t0) == .wait(until: t0 - 3590))
        #expect(try old.on(.due, at: t0).sends)
        var unknown = Script(paidAt: nil)
        #expect(try unknown.on(.discovered, at: t0 + 1) == .wait(until: t0 + 10), "no paid_at: counts from enqueue")
    }

    @Test("payments older than 240 days fail fast as past-deadline, never sent")
    func deadline() throws {
        var script = Script(paidAt: t0 - 241 * 86_400)
        #expect(try script.on(.discovered, at: t0) == .finish(.pastDeadline))
        #expect(script.job.state == .failed)
        var retrying = Script(paidAt: t0 - 239 * 86_400)
        let sentAt = try retrying.sendFirst()
        try retrying.on(.transportFailed(.timeout), at: sentAt)
        #expect(try retrying.on(.due, at: t0 + 2 * 86_400) == .finish(.pastDeadline))
    }

    @Test("a malformed order number goes to failed without being sent")
    func malformedOrderNumber() throws {
        var script = Script(order: "has space")
        #expect(try script.on(.discovered, at: t0) == .finish(.rejectedOrderNumber))
        #expect(throws: ImpossibleEvent.self) { try script.on(.due, at: t0 + 100) }
    }

    @Test("requeue moves only a failed job, back to pending with a fresh attempt budget")
    func requeue() throws {
        var script = Script(policy: try RetryPolicy(maxAttempts: 1, jitter: 0))
        let now = try script.sendFirst()
        try script.on(.answered(.failure("02189999")), at: now)
        #expect(script.job.state == .failed)
        #expect(try script.job.requeue() == Decision(.restart))
        #expect(script.job.state == .pending)
        #expect(script.job.attemptCount == 0)
        #expect(script.job.outcome == nil)

        var done = Script()
        let sentAt = try done.sendFirst()
        try done.on(.answered(.success()), at: sentAt)
        let error = #expect(throws: ImpossibleEvent.self) { try done.job.requeue() }
        #expect(error?.description.contains("confirmed") == true)
    }

    @Test("whatever the stored due time says, nothing is sent before the payment (or the enqueue) + the delay")
    func sendTimeDelayCheck() throws {
        let tampered = CancellationJob(orderNumber: "EARLY-1", paidAt: t0, enqueuedAt: t0, state: .retrying, dueAt: 0)
        var script = Script()
        script.job = tampered
        #expect(try script.on(.due, at: t0 + 1) == Decision(.wait(until: t0 + 10), notice: .tooEarly(notBefore: t0 + 10)))
        var unknownPayment = Script()
        unknownPayment.job = CancellationJob(orderNumber: "EARLY-2", paidAt: nil, enqueuedAt: t0, state: .waitingDelay, dueAt: t0 - 999)
        #expect(try unknownPayment.on(.due, at: t0 + 5) == Decision(.wait(until: t0 + 10), notice: .tooEarly(notBefore: t0 + 10)))
        #expect(try unknownPayment.on(.due, at: t0 + 10).sends)
    }

    @Test("a job edited back from succeeded is never sent again: its audit trail holds the confirmation")
    func confirmedNeverResent() throws {
        var script = Script()
        script.job = CancellationJob(
            orderNumber: "DONE-1", paidAt: t0 - 60, enqueuedAt: t0 - 60, state: .retrying, dueAt: t0, confirmed: .alreadyCancelled)
        #expect(try script.on(.due, at: t0) == Decision(.finish(.alreadyCancelled), notice: .confirmedBefore))
        #expect(script.job.state == .succeeded)
    }

    @Test("in flight at three abnormal stops in a row: quarantined instead of resent; an answer resets the count")
    func poisonJob() throws {
        var script = Script(policy: try RetryPolicy(maxAttempts: 100, jitter: 0))
        var now = try script.sendFirst()
        for stop in 1...2 {
            #expect(try script.on(.recoveredAfterCrash, at: now).next != .finish(.quarantined))
            #expect(script.job.interruptions == stop)
            now = try #require(script.job.dueAt)
            #expect(try script.on(.due, at: now).sends)
        }
        #expect(try script.on(.recoveredAfterCrash, at: now) == Decision(.finish(.quarantined), notice: .quarantined(interruptions: 3)))
        #expect(script.job.state == .failed)
        #expect(try script.job.requeue() == Decision(.restart))
        #expect(script.job.interruptions == 0)

        var answered = Script()
        now = try answered.sendFirst()
        try answered.on(.recoveredAfterCrash, at: now)
        now = try #require(answered.job.dueAt)
        try answered.on(.due, at: now)
        try answered.on(.answered(.failure("02189999")), at: now)
        #expect(answered.job.interruptions == 0, "a recorded answer ends the run of interruptions")
    }

    @Test("counts at Int.max from an edited row saturate instead of trapping")
    func saturatingCounts() throws {
        var script = Script(policy: try RetryPolicy(maxAttempts: 1000, jitter: 0))
        script.job = CancellationJob(
            orderNumber: "HUGE-1", paidAt: t0, enqueuedAt: t0, state: .sent, attemptCount: .max, interruptions: .max)
        #expect(try script.on(.answered(.failure("02189999")), at: t0 + 20) == .finish(.gaveUp, counted: true))
        var gate = SendingGate.paused(until: t0, streak: .max, since: t0)
        _ = gate.maintenanceAnswered(now: t0 + 1, policy: exactPolicy)
        #expect(gate == .paused(until: t0 + 1 + 3600, streak: .max, since: t0))
    }
}
