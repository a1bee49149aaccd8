import CancelCore
import CancelQueue
import Foundation
import Testing

/// `cancelq status`: every figure of the report, on every driver, from a queue with a job in each
/// of the common states.
extension QueueStoreConformance {
    public static func everyStatusFigureFollowsTheQueue(_ store: any CommandQueue) async throws {
        let startOfDay = t0 - 3600
        let empty = try await store.statusReport(startOfDay: startOfDay, thresholds: HealthThresholds())
        #expect(empty.total == 0 && empty.unfinished == 0 && empty.oldestUnfinished == nil && empty.nextDue == nil)
        #expect(empty.sending.mode == .open && empty.sending.waiting == 0 && empty.health.status == .ok, "\(empty.health)")
        #expect(empty.counts.keys.sorted() == State.allCases.map(\.rawValue).sorted(), "every state is listed, 0 included")

        _ = try await store.enqueue(orderNumber: "ST-PENDING", paidAt: nil)
        _ = try await inFlight(store, "ST-SENT")
        let succeeded = try await inFlight(store, "ST-SUCCEEDED")
        _ = try await store.commit([try answered(succeeded, at: t0 + 1)], gate: nil, now: t0 + 1)
        let failed = try await inFlight(store, "ST-FAILED")
        _ = try await store.commit([try answered(failed, at: t0 + 2, with: rejected)], gate: nil, now: t0 + 2)
        _ = try await store.enqueue(orderNumber: "ST-WAITING", paidAt: t0 - 60)
        let waiting = try #require(try await store.newJobs(limit: 10).first { $0.orderNumber == "ST-WAITING" })
        _ = try await store.commit([try discovered(waiting, due: t0 - 40)], gate: nil, now: t0 + 3)

        let report = try await store.statusReport(startOfDay: startOfDay, thresholds: HealthThresholds())
        #expect(report.counts["pending"] == 1 && report.counts["waiting-delay"] == 1 && report.counts["sent"] == 1, "\(report.counts)")
        #expect(report.counts["succeeded"] == 1 && report.counts["failed"] == 1, "\(report.counts)")
        #expect(report.total == 5 && report.unfinished == 3)
        #expect(report.oldestUnfinished?.orderNumber == "ST-PENDING" && report.oldestUnfinished?.state == .pending)
        let due = try #require(report.nextDue)
        #expect(due.orderNumber == "ST-WAITING" && due.state == .waitingDelay && due.dueAt == t0 - 40)
        #expect(report.overdueSeconds >= 40 && due.inSeconds == -report.overdueSeconds, "due 40 s before t0: \(report.overdueSeconds)")
        #expect(report.sending.mode == .open && report.sending.waiting == 2, "pending and waiting-delay; the job in flight is not held back")
        #expect(report.today.since == startOfDay && report.today.succeeded == 1 && report.today.failed == 1)
        let failure = try #require(report.recentFailures.first)
        #expect(report.recentFailures.count == 1 && failure.orderNumber == "ST-FAILED" && failure.code == rejected.code)
        #expect(failure.meaning == CodeTable.meaning(status: rejected.status, code: rejected.code) && failure.meaning != nil)
        #expect(failure.outcome == .requestRejected && failure.attempts == 1)
        #expect(report.health.status == .attention && report.health.reasons.contains { $0.contains("failed") }, "\(report.health)")
        // A queue one daemon holds (SQLite) lists no daemons and counts no rescues; a shared one both.
        #expect((report.daemons == nil) == (report.rescuedToday == nil) && report.rescuedToday ?? 0 == 0)

        let pause = SendingGate.paused(until: t0 + 600, streak: 2, since: t0)
        try await store.saveGate(pause, now: t0 + 4)
        let paused = try await store.statusReport(startOfDay: startOfDay, thresholds: HealthThresholds())
        #expect(paused.sending.mode == .paused && paused.sending.pausedUntil == t0 + 600 && paused.sending.maintenanceStreak == 2)
        #expect(paused.sending.since == t0)
        let later = try await store.statusReport(startOfDay: t0 + 3600, thresholds: HealthThresholds())
        #expect(later.today.succeeded == 0 && later.today.failed == 0, "today starts at the given midnight")
    }
}
