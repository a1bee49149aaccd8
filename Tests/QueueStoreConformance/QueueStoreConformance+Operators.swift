import CancelCore
import CancelQueue
import Foundation
import Testing
import TestSupport

/// The operators' commands (`requeue`, `resume`, `withdraw`, `approve`, the timeline), written once
/// in the queue layer, checked on every driver through the layer only.
extension QueueStoreConformance {
    /// The gateway rejects the request itself: final, `failed`, at the first answer.
    static let rejected = GatewayAnswer(status: "invalid", code: "02080114")

    /// Enqueues `order`, discovers it due and claims it: in flight with its attempt row open.
    static func inFlight(_ store: any QueueStore, _ order: String) async throws -> JobWrite {
        _ = try await store.enqueue(orderNumber: order, paidAt: t0 - 60)
        let record = try #require(try await store.newJobs(limit: 100).first { $0.orderNumber == order })
        _ = try await store.commit([try discovered(record, due: t0 - 50)], gate: nil, now: t0)
        let due = try #require(try await store.dueJobs(now: t0, limit: 100).first { $0.orderNumber == order })
        let claim = try claimed(due, at: t0)
        #expect(try await store.commit([claim], gate: nil, now: t0).isEmpty)
        return claim
    }

    /// Only a failed job is requeued, with a fresh budget and an audit line; every refusal says why.
    public static func requeueMovesOnlyFailedJobs(_ store: any CommandQueue) async throws {
        let claim = try await inFlight(store, "RQ-FAILED")
        #expect(try await store.commit([try answered(claim, at: t0 + 1, with: rejected)], gate: nil, now: t0 + 1).isEmpty)
        _ = try await store.enqueue(orderNumber: "RQ-PENDING", paidAt: nil)
        let failed = try #require(try await store.timeline(orderNumber: "RQ-FAILED"))
        #expect(failed.state == .failed)
        #expect(failed.attempts.map(\.code) == ["02080114"] && failed.attempts[0].meaning != nil, "\(failed.attempts)")

        let results = try await store.requeue(orderNumbers: ["RQ-FAILED", "RQ-PENDING", "RQ-NONE"], by: "alice", now: t0 + 2)
        #expect(results.count == 3)
        #expect(results[0] == .requeued(orderNumber: "RQ-FAILED", previousOutcome: failed.outcome?.rawValue))
        guard case .refused("RQ-PENDING", let why) = results[1] else { throw TestFailure("\(results[1])") }
        #expect(why.contains("pending"), "the refusal names the state: \(why)")
        #expect(results[2] == .refused(orderNumber: "RQ-NONE", reason: "no such order in the queue"))

        let requeued = try #require(try await store.timeline(orderNumber: "RQ-FAILED"))
        #expect(requeued.state == .pending && requeued.attemptCount == 0 && requeued.outcome == nil)
        #expect(requeued.attempts.count == 1, "the first attempt stays in the audit trail")
        let action = try #require(requeued.operatorActions.last)
        #expect(action.action == "requeue" && action.operator?.hasPrefix("alice") == true && action.at == t0 + 2, "\(action)")
        #expect(try await store.newJobs(limit: 100).map(\.orderNumber).contains("RQ-FAILED"), "the daemon sees it as new")
        #expect(try await store.requeueAllFailed(by: "alice", now: t0 + 3).isEmpty, "nothing is failed any more")

        let again = try await inFlight(store, "RQ-ALL")
        _ = try await store.commit([try answered(again, at: t0 + 4, with: rejected)], gate: nil, now: t0 + 4)
        #expect(try await store.requeueAllFailed(by: "bob", now: t0 + 5) == [.requeued(orderNumber: "RQ-ALL", previousOutcome: failed.outcome?.rawValue)])
    }

    /// `resume` does what `SendingGate.resumed` says, on every mode, and makes paused jobs due now.
    public static func resumeFollowsTheGate(_ store: any CommandQueue) async throws {
        #expect(try await store.resumeSending(by: "carol", now: t0) == .open)
        #expect(try await store.loadGate() == .open)

        let claim = try await inFlight(store, "RS-PAUSED")
        let paused = try answered(claim, at: t0 + 1, with: GatewayAnswer(status: "maintenance", code: "00000000"))
        #expect(paused.record.state == .maintenancePaused)
        let pausedGate = SendingGate.paused(until: t0 + 600, streak: 1, since: t0 + 1)
        _ = try await store.commit([paused], gate: pausedGate, now: t0 + 1)
        #expect(try #require(try await store.nextDueTime()) > t0 + 2, "paused until the pause's end")

        #expect(try await store.resumeSending(by: "carol", now: t0 + 2) == pausedGate)
        #expect(try await store.loadGate() == pausedGate.resumed(now: t0 + 2)?.gate)
        #expect(try await store.nextDueTime() == t0 + 2, "the paused job is due at once")

        let halt = SendingGate.halted(.credentialsRejected(code: "02130210"), since: t0)
        try await store.saveGate(halt, now: t0 + 3)
        #expect(try await store.resumeSending(by: "carol", now: t0 + 4) == halt)
        #expect(try await store.loadGate() == halt.resumed(now: t0 + 4)?.gate, "one request tests the credentials")

        let held = SendingGate.held(Surge(enqueued: 11, window: 60, holdAbove: 10, countedFrom: t0 - 60), since: t0)
        try await store.saveGate(held, now: t0 + 5)
        #expect(try await store.resumeSending(by: "carol", now: t0 + 6) == held)
        #expect(try await store.loadGate() == held, "a surge hold is released by approve only")
    }

    /// A withdrawal lands before a request leaves, is refused after, and is in the timeline.
    public static func withdrawalsFollowTheJob(_ store: any CommandQueue) async throws {
        _ = try await store.enqueue(orderNumber: "WT-PENDING", paidAt: nil)
        _ = try await inFlight(store, "WT-SENT")
        let results = try await store.withdraw(
            orderNumbers: ["WT-PENDING", "WT-SENT", "WT-NONE"], reason: "customer kept the order", by: "dave", now: t0 + 1)
        #expect(results[0] == .withdrawn(orderNumber: "WT-PENDING", previousState: .pending))
        guard case .refused("WT-SENT", let why) = results[1] else { throw TestFailure("\(results[1])") }
        #expect(why.hasPrefix("too late"), "\(why)")
        #expect(results[2] == .refused(orderNumber: "WT-NONE", reason: "no such order in the queue"))

        let timeline = try #require(try await store.timeline(orderNumber: "WT-PENDING"))
        #expect(timeline.state == .withdrawn)
        #expect(timeline.withdrawals.map(\.reason) == ["customer kept the order"])
        let action = try #require(timeline.operatorActions.last)
        #expect(action.action == "withdraw" && action.operator?.hasPrefix("dave") == true, "\(action)")
        #expect(action.detail?.contains("customer kept the order") == true)
        #expect(try await store.timeline(orderNumber: "WT-SENT")?.state == .sent, "the job in flight goes on")
        #expect(try await store.timeline(orderNumber: "WT-SENT")?.withdrawals.isEmpty == true)

        guard case .refused(_, let final) = try await store.withdraw(orderNumbers: ["WT-PENDING"], reason: nil, by: "dave")[0] else {
            throw TestFailure("a withdrawn job was withdrawn again")
        }
        #expect(final.contains("final"), "\(final)")
        #expect(try await store.timeline(orderNumber: "WT-NONE") == nil)
    }

    /// An approval releases exactly what the operator was shown, else asks again.
    public static func anApprovalReleasesWhatWasShown(_ store: any CommandQueue) async throws {
        // On the wall clock: the next surge counts jobs by when the database made them.
        let t0 = QueueClock.now()
        #expect(try await store.heldBacklog() == nil)
        #expect(try await store.approve(by: "erin", now: t0) == .notHeld(.open))
        for index in 0..<3 { _ = try await store.enqueue(orderNumber: "AP-\(index)", paidAt: nil) }
        let surge = Surge(enqueued: 3, window: 60, holdAbove: 2, countedFrom: t0 - 60)
        try await store.saveGate(.held(surge, since: t0), now: t0)
        let shown = try #require(try await store.heldBacklog())
        #expect(shown.backlog == 3 && shown.surge == surge && shown.since == t0)

        _ = try await store.enqueue(orderNumber: "AP-LATE", paidAt: nil)
        guard case .changed(let was, let now) = try await store.approve(shown: shown, by: "erin", now: t0 + 1) else {
            throw TestFailure("a job queued after the prompt was released unseen")
        }
        #expect(was == shown && now.backlog == 4)
        #expect(try await store.loadGate().mode == .held, "nothing approved")

        guard case .released(let released) = try await store.approve(shown: now, by: "erin", now: t0 + 2) else {
            throw TestFailure("the backlog as shown again was not released")
        }
        #expect(released.backlog == 4 && released.approvedAt == t0 + 2)
        #expect(try await store.loadGate() == .open)
        let counted = try await store.enqueuedForSurge(now: t0 + 3, limit: SurgeLimit(holdAbove: 2, window: 60))
        #expect(counted.countedFrom == t0 + 2 && counted.enqueued == 0, "the next surge counts from the approval")
        #expect(try await store.approve(by: "erin", now: t0 + 3) == .notHeld(.open))
    }
}
