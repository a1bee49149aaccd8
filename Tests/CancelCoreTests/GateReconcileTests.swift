import CancelCore
import Testing

/// Several daemons decide about the one gate: what one proposes meets what another stored.
@Suite("Sending gate: decisions of several daemons reconciled")
struct GateReconcileTests {
    let t = 1_800_000_000.0
    var pause: SendingGate { .paused(until: t + 300, streak: 1, since: t) }
    var halt: SendingGate { .halted(.credentialsRejected(code: "02130210"), since: t) }
    var hold: SendingGate { .held(Surge(enqueued: 1001, window: 3600, holdAbove: 1000, countedFrom: t - 3600), since: t) }

    @Test("a hold is ended only by an approval: no daemon's decision overrides it, and it overrides theirs")
    func holdWins() {
        for proposed in [SendingGate.open, pause, halt] {
            #expect(proposed.reconciled(withStored: hold, now: t) == hold)
            #expect(hold.reconciled(withStored: proposed, now: t) == hold)
        }
    }

    @Test("a hold counted from before the last approval is stale: the stored gate stands; one counted after it holds")
    func staleHoldAfterApproval() {
        let approvedAt = t - 60
        // Counted from t - 3600, before the approval: those jobs were released.
        #expect(hold.merged(withStored: .open, approvedAt: approvedAt, now: t) == .open)
        #expect(hold.merged(withStored: pause, approvedAt: approvedAt, now: t) == pause)
        // Counted from after the approval: a new surge, it holds.
        let fresh = SendingGate.held(Surge(enqueued: 1001, window: 3600, holdAbove: 1000, countedFrom: approvedAt + 1), since: t)
        #expect(fresh.merged(withStored: .open, approvedAt: approvedAt, now: t) == fresh)
        // No approval yet, or the stored gate still held: the hold stands as reconciled.
        #expect(hold.merged(withStored: .open, approvedAt: nil, now: t) == hold)
        #expect(SendingGate.open.merged(withStored: hold, approvedAt: approvedAt, now: t) == hold)
        // Without a hold the merge is the reconciliation.
        #expect(SendingGate.open.merged(withStored: pause, approvedAt: approvedAt, now: t) == SendingGate.open.reconciled(withStored: pause, now: t))
    }

    @Test("a halt beats a pause and an opening, whichever daemon decided it")
    func haltWins() {
        #expect(halt.reconciled(withStored: pause, now: t) == halt)
        #expect(pause.reconciled(withStored: halt, now: t) == halt)
        #expect(SendingGate.open.reconciled(withStored: halt, now: t) == halt)
    }

    @Test("two pauses make the longer one, with the higher streak and the earlier start")
    func pausesMerge() {
        let other = SendingGate.paused(until: t + 600, streak: 2, since: t - 60)
        #expect(pause.reconciled(withStored: other, now: t) == .paused(until: t + 600, streak: 2, since: t - 60))
    }

    @Test("a reopening counts once the stored pause has ended (the probe's answer), never over a pause still running")
    func reopening() {
        #expect(SendingGate.open.reconciled(withStored: pause, now: t + 299) == pause)
        #expect(SendingGate.open.reconciled(withStored: pause, now: t + 300) == .open)
        #expect(pause.reconciled(withStored: .open, now: t) == pause)
    }
}
