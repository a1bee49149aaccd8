import CancelCore
import Foundation
import QueueStoreConformance
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

/// Issue 18, point 4 on SQLite: an approval releases exactly the held jobs the operator was shown.
@Suite("Approval releases what was shown (SQLite)")
struct ApprovalTests {
    let surge = Surge(enqueued: 4, window: 3600, holdAbove: 3, countedFrom: 0)

    /// A store holding `orders` behind a surge hold, and an application's connection to it.
    func withHeldStore(_ orders: [String], _ body: (CancelStore, Connection) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            let app = try Connection(path: dir + "/q.db")
            for order in orders { try app.run("INSERT INTO cancellations(order_number) VALUES (?)", order) }
            let now = QueueClock.now()
            try store.saveGateNow(.held(surge, since: now), now: now)
            try await body(store, app)
        }
    }

    func approvals(_ store: CancelStore) throws -> [String] {
        try store.connection.query("SELECT detail FROM operator_actions WHERE action = 'approve'") { $0.string(0) }
    }

    @Test("4 shown, 20 queued while the prompt waits: yes approves nothing and shows 24; yes again releases those 24")
    func queuedWhileAsked() async throws {
        try await withHeldStore((1...4).map { "SHOWN-\($0)" }) { store, app in
            let shown = try #require(try await store.heldBacklog())
            #expect(shown.backlog == 4)
            // The application keeps inserting while the operator reads the prompt.
            for index in 1...20 { try app.run("INSERT INTO cancellations(order_number) VALUES (?)", "LATER-\(index)") }
            guard case .changed(let was, let now) = try await store.approve(shown: shown, by: "alice") else {
                Issue.record("an approval of 4 shown jobs released what was queued after the prompt")
                return
            }
            #expect(was == shown && now.backlog == 24)
            #expect(try store.loadGateNow().mode == .held, "nothing approved")
            #expect(try approvals(store).isEmpty)
            #expect(try store.lastApprovalNow() == nil)

            guard case .released(let released) = try await store.approve(shown: now, by: "alice") else {
                Issue.record("the second, informed approval was refused")
                return
            }
            #expect(released.backlog == 24)
            #expect(try store.loadGateNow() == .open)
            #expect(try approvals(store).map { $0.hasPrefix("released 24 waiting job(s)") } == [true])
        }
    }

    @Test("the same number but not the same jobs (one withdrawn, one queued) is a change too")
    func sameCountOtherJobs() async throws {
        try await withHeldStore((1...4).map { "SHOWN-\($0)" }) { store, app in
            let shown = try #require(try await store.heldBacklog())
            try app.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('SHOWN-2', 'mistake')")
            try app.run("INSERT INTO cancellations(order_number) VALUES ('UNSEEN-1')")
            #expect(try await store.heldBacklog()?.backlog == 4)
            guard case .changed = try await store.approve(shown: shown, by: "alice") else {
                Issue.record("a job the operator never saw was released")
                return
            }
            #expect(try store.loadGateNow().mode == .held)
        }
    }

    @Test("jobs queued after the approval count toward the next surge, from the approval's time")
    func laterJobsCountTowardTheNextSurge() async throws {
        try await withHeldStore((1...4).map { "SHOWN-\($0)" }) { store, app in
            let shown = try #require(try await store.heldBacklog())
            let approvedAt = QueueClock.now()
            guard case .released(let released) = try await store.approve(shown: shown, by: "alice", now: approvedAt) else {
                Issue.record("not released")
                return
            }
            #expect(released.approvedAt == approvedAt && released.held == shown)
            // created_at has SQLite's millisecond resolution: the next insert lands in a later one.
            try await Task.sleep(nanoseconds: 5_000_000)
            for index in 1...5 { try app.run("INSERT INTO cancellations(order_number) VALUES (?)", "AFTER-\(index)") }
            let limit = SurgeLimit(holdAbove: 3, window: 3600)
            let counted = try store.enqueuedForSurgeNow(now: QueueClock.now(), limit: limit)
            #expect(counted.enqueued == 4 && counted.countedFrom == approvedAt, "the 5 later jobs start the next surge")
        }
    }
}
