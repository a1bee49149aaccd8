import CancelCore
import Testing
import TestSupport

/// A gateway that cannot be reached (no connection: refused, timed out): nothing left, nothing is
/// counted, every job waits, one probe at a time (after 1, 2, 4, then every 5 s) finds out when it
/// is back, and its answer reopens sending at once (a per-job retry backoff kept jobs waiting for
/// minutes after a 20 s outage).
@Suite("An unreachable gateway")
struct UnreachableTests {
    @Test("a refused or timed-out connection: not counted, retrying, sending waits 1 s for every job")
    func noConnectionWaits() throws {
        for failure in [TransportFailure.connectionRefused, .unreachable("connect timeout")] {
            var script = Script()
            let sentAt = try script.sendFirst()
            let decision = try script.on(.transportFailed(failure), at: sentAt)
            #expect(decision == Decision(.wait(until: sentAt + 1), gate: .unreachable(until: sentAt + 1, streak: 1, since: sentAt)))
            #expect(!decision.countsAttempt)
            #expect(script.job.state == .retrying && script.job.attemptCount == 0)
            #expect(script.gate.mode == .paused)
            #expect(script.gate.allowance(now: sentAt + 0.5, probeInFlight: false) == .none(until: sentAt + 1))
        }
    }

    @Test("requests failing during the wait do not lengthen it; each failed probe does, up to 5 s; the probe's answer reopens")
    func probesFindTheGatewayBack() throws {
        var gate = SendingGate.open
        #expect(gate.couldNotConnect(now: t0) == t0 + 1)
        // Other requests in flight when the gateway went away fail too: the same wait.
        #expect(gate.couldNotConnect(now: t0 + 0.2) == t0 + 1)
        #expect(gate == .unreachable(until: t0 + 1, streak: 1, since: t0))
        #expect(gate.allowance(now: t0 + 1, probeInFlight: false) == .probe)
        #expect(gate.allowance(now: t0 + 1, probeInFlight: true) == .none(until: nil))
        var now = t0 + 1
        for expectedPause in [2.0, 4, 5, 5, 5] {
            #expect(gate.couldNotConnect(now: now) == now + expectedPause)
            now += expectedPause
        }
        #expect(gate == .unreachable(until: now, streak: 6, since: t0))
        // The probe is answered: the gateway is back, every job may go.
        let reopened = gate.nonMaintenanceAnswered(now: now)
        #expect(reopened)
        #expect(gate == .open)
    }

    @Test("reachable but in maintenance: a maintenance pause; a halt or a hold stays, its job waits one short pause")
    func otherGatesWin() {
        var gate = SendingGate.unreachable(until: t0 + 1, streak: 1, since: t0)
        let until = gate.maintenanceAnswered(now: t0 + 1, policy: exactPolicy)
        #expect(gate == .paused(until: until, streak: 1, since: t0 + 1))
        let reason = HaltReason.credentialsRejected(code: "02130210")
        for held in [SendingGate.halted(reason, since: t0), .testingCredentials(reason, since: t0)] {
            var gate = held
            #expect(gate.couldNotConnect(now: t0 + 5) == t0 + 6)
            #expect(gate == held)
        }
        var unreachable = SendingGate.unreachable(until: t0 + 1, streak: 1, since: t0)
        unreachable.credentialsRejected(code: "02130210", now: t0 + 1)
        #expect(unreachable == .halted(reason, since: t0 + 1))
    }

    @Test("on a shared queue: two waits make the longer one, maintenance wins, a reopening counts once the stored wait is over")
    func reconciled() {
        let wait = SendingGate.unreachable(until: t0 + 4, streak: 3, since: t0)
        #expect(SendingGate.unreachable(until: t0 + 2, streak: 1, since: t0 + 1).reconciled(withStored: wait, now: t0 + 1)
            == .unreachable(until: t0 + 4, streak: 3, since: t0))
        #expect(SendingGate.open.reconciled(withStored: wait, now: t0 + 1) == wait)
        #expect(SendingGate.open.reconciled(withStored: wait, now: t0 + 4) == .open)
        let maintenance = SendingGate.paused(until: t0 + 300, streak: 1, since: t0)
        #expect(wait.reconciled(withStored: maintenance, now: t0 + 1) == maintenance)
        #expect(maintenance.reconciled(withStored: wait, now: t0 + 1) == maintenance)
    }
}
