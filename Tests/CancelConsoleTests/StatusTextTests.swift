import CancelConsole
import CancelCore
@testable import CancelQueue
@testable import CancelStore
import Foundation
import Testing

@Suite("Status text")
struct StatusTextTests {
    static let now = 1_800_000_000.0

    static func report(mode: SendingGate.Mode = .open, failures: [StatusReport.Failure] = [], reasons: [String] = []) -> StatusReport {
        StatusReport(
            generatedAt: now, database: "/var/lib/cancelq/queue.db",
            counts: ["pending": 1, "waiting-delay": 2, "sent": 0, "succeeded": 1234, "failed": failures.count,
                     "retrying": 1, "maintenance-paused": 0, "withdrawn": 0],
            total: 1238 + failures.count, unfinished: 4,
            oldestUnfinished: .init(orderNumber: "OLD-1", state: .retrying, createdAt: now - 7800, ageSeconds: 7800),
            nextDue: .init(orderNumber: "NEXT-1", state: .waitingDelay, dueAt: now + 12, inSeconds: 12), overdueSeconds: 0,
            sending: .init(mode: mode, since: mode == .open ? nil : now - 60, pausedUntil: mode == .paused ? now + 240 : nil,
                           maintenanceStreak: mode == .paused ? 1 : 0,
                           reason: mode == .halted ? "the gateway rejected the client IP code or key (02130210: wrong key)" : nil,
                           code: mode == .halted ? "02130210" : nil,
                           hold: mode == .held ? .init(enqueued: 1001, holdAbove: 1000, windowSeconds: 3600, countedFrom: now - 3600) : nil,
                           waiting: 4),
            today: .init(since: now - 3600, succeeded: 1200, failed: failures.count), recentFailures: failures,
            health: .init(status: reasons.isEmpty ? .ok : .attention, reasons: reasons))
    }

    @Test("the table shows sending, counts per state, oldest, next due, today and health at a glance")
    func table() {
        let text = StatusText(colour: false).render(Self.report())
        #expect(text.contains("Sending   open"))
        #expect(text.contains("pending 1 · waiting-delay 2 · sent 0 · retrying 1 · maintenance-paused 0 · succeeded 1,234 · failed 0 · withdrawn 0  (total 1,238)"))
        #expect(text.contains("Oldest    OLD-1 (retrying), queued 2 h 10 min ago"))
        #expect(text.contains("Next due  NEXT-1 (waiting-delay) in 12 s"))
        #expect(text.contains("Today     1,200 succeeded · 0 failed"))
        #expect(text.contains("Health    OK"))
        #expect(!text.contains("\u{1B}["), "no colour codes when not a terminal")
    }

    @Test("a halt and a pause say why and since when; failures list their code and meaning")
    func attention() {
        let failure = StatusReport.Failure(
            orderNumber: "BAD-1", outcome: .gaveUp, status: "failure", code: "02189999",
            meaning: "refused for reasons on the payment's side; ask ZEUS for details", error: nil, attempts: 10, at: Self.now - 5)
        let halted = StatusText(colour: false).render(Self.report(mode: .halted, failures: [failure], reasons: ["sending halted"]))
        #expect(halted.contains("HALTED since"))
        #expect(halted.contains("02130210: wrong key"))
        #expect(halted.contains("BAD-1  gave-up  failure/02189999  refused for reasons on the payment's side"))
        #expect(halted.contains("ATTENTION: sending halted"))
        #expect(halted.contains("cancelq requeue --db /var/lib/cancelq/queue.db"))
        let paused = StatusText(colour: false).render(Self.report(mode: .paused))
        #expect(paused.contains("PAUSED for gateway maintenance since"))
        #expect(paused.contains("one probe job then decides"))
        #expect(StatusText(colour: true).render(Self.report(mode: .halted)).contains("\u{1B}[31mHALTED"))
    }

    @Test("the check line is one line, OK or ATTENTION with every reason")
    func checkLine() {
        #expect(Self.report().checkLine == "OK - 4 unfinished, next due in 12 s, sending open")
        #expect(Self.report(reasons: ["a", "b"]).checkLine == "ATTENTION - a; b")
    }

    @Test("the order timeline lists every attempt with its answer, meaning, error and accounting")
    func timeline() {
        let timeline = OrderTimeline(
            id: 7, orderNumber: "ORD-7", state: .succeeded, outcome: .alreadyCancelled, paidAt: Self.now - 100,
            createdAt: Self.now - 90, updatedAt: Self.now - 10, dueAt: nil, attemptCount: 1,
            attempts: [
                .init(attempt: 1, startedAt: Self.now - 80, completedAt: Self.now - 50, httpStatus: nil, status: nil, code: nil,
                      meaning: nil, error: "no answer before the request timeout", counted: true),
                .init(attempt: 2, startedAt: Self.now - 20, completedAt: Self.now - 19.9, httpStatus: 200, status: "invalid",
                      code: "02180118", meaning: "order already cancelled", error: nil, counted: false),
            ],
            operatorActions: [.init(at: Self.now - 30, action: "requeue", detail: "was failed")])
        let text = TimelineText(colour: false).render(timeline, now: Self.now)
        #expect(text.contains("Order ORD-7  job 7 - succeeded (already-cancelled)"))
        #expect(text.contains("#1"))
        #expect(text.contains("+30 s  no answer before the request timeout  counted"))
        #expect(text.contains("HTTP 200  invalid/02180118  order already cancelled  not counted"))
        #expect(text.contains("requeue: was failed"))
    }

    @Test("a surge hold says what held it, how many wait, and what to do")
    func held() {
        let text = StatusText(colour: false).render(Self.report(mode: .held, reasons: ["sending held"]))
        #expect(text.contains("Sending   HELD since"))
        #expect(text.contains("a surge of new jobs (over 1,000 enqueued within 1 h, limit 1,000); 4 job(s) wait"))
        #expect(text.contains("cancelq withdraw"))
        #expect(text.contains("`cancelq approve --db /var/lib/cancelq/queue.db` releases the rest"))
    }

    @Test("the timeline shows withdrawals with their reason and operator actions with who did them")
    func timelineWithdrawal() {
        let timeline = OrderTimeline(
            id: 9, orderNumber: "ORD-9", state: .withdrawn, outcome: .withdrawn, paidAt: nil, createdAt: Self.now - 90,
            updatedAt: Self.now - 10, dueAt: nil, attemptCount: 0, attempts: [],
            operatorActions: [.init(at: Self.now - 10, action: "withdraw", detail: "was waiting-delay; reason: typo", operator: "alice")],
            withdrawals: [.init(at: Self.now - 10, reason: "typo")])
        let text = TimelineText(colour: false).render(timeline, now: Self.now)
        #expect(text.contains("Order ORD-9  job 9 - withdrawn (withdrawn)"))
        #expect(text.contains("reason: typo"))
        #expect(text.contains("withdraw by alice: was waiting-delay; reason: typo"))
    }
}
