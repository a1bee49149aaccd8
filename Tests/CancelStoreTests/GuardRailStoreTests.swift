import CancelCore
import Foundation
import SQLite
import QueueStoreConformance
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

/// Withdrawals, the surge count, approvals and who did what, on SQLite, each defence tried from
/// the side an application (or a careless writer) would come at it.
@Suite("Guard rails: withdraw, surge hold, operator actions")
struct GuardRailStoreTests {
    /// A store with `orders` discovered (waiting-delay, due at once).
    func withStore(orders: [String] = [], _ body: (CancelStore, String) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            let now = QueueClock.now()
            for order in orders { _ = try store.enqueueNow(orderNumber: order, paidAt: now - 60) }
            let new = try store.pendingJobs(limit: 1000)
            try await store.apply(try new.map { try QueueStoreConformance.discovered($0, due: now - 50) }, now: now)
            try await body(store, dir + "/q.db")
        }
    }

    /// An application's own connection, as the README shows it.
    func application(_ path: String) throws -> Connection { try Connection(path: path) }

    func state(_ store: CancelStore, _ order: String) throws -> String? {
        try store.connection.queryOne("SELECT state || '/' || coalesce(outcome, '-') FROM cancellations WHERE order_number = ?", [order]) {
            $0.string(0)
        }
    }

    /// Claims `order` as the daemon does (sent, attempt row opened).
    func claim(_ store: CancelStore, _ order: String) async throws -> JobWrite {
        let record = try #require(try store.job(orderNumber: order))
        let write = try QueueStoreConformance.claimed(record, at: QueueClock.now())
        #expect(try await store.apply([write], now: QueueClock.now()).isEmpty)
        return write
    }

    @Test("an application's INSERT INTO cancellation_withdrawals withdraws the job in the same transaction, with its reason")
    func applicationWithdraws() async throws {
        try await withStore(orders: ["W-1", "W-2"]) { store, path in
            let app = try application(path)
            try app.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, ?)", "W-1", "queued by mistake")
            #expect(try state(store, "W-1") == "withdrawn/withdrawn")
            #expect(try state(store, "W-2") == "waiting-delay/-")
            #expect(try store.dueJobsNow(now: QueueClock.now() + 10, limit: 10).map(\.orderNumber) == ["W-2"])
            let report = try store.statusReport(now: QueueClock.now(), startOfDay: 0)
            #expect(report.counts["withdrawn"] == 1 && report.counts["waiting-delay"] == 1)
            let timeline = try #require(try await store.timeline(orderNumber: "W-1"))
            #expect(timeline.withdrawals.map(\.reason) == ["queued by mistake"])
            #expect(timeline.outcome == .withdrawn && timeline.dueAt == nil)
            // Inside a transaction the application rolls back, the withdrawal goes with it.
            try app.execute("BEGIN IMMEDIATE")
            try app.run("INSERT INTO cancellation_withdrawals(order_number) VALUES ('W-2')")
            #expect(try app.queryOne("SELECT state FROM cancellations WHERE order_number = 'W-2'") { $0.string(0) } == "withdrawn")
            try app.execute("ROLLBACK")
            #expect(try state(store, "W-2") == "waiting-delay/-")
        }
    }

    @Test("too late or unknown: the insert fails with a named error and nothing changes")
    func applicationWithdrawalRefused() async throws {
        try await withStore(orders: ["F-1", "S-1"]) { store, path in
            let inFlight = try await claim(store, "F-1")
            _ = inFlight
            let finished = try await claim(store, "S-1")
            try await store.apply([try QueueStoreConformance.answered(finished, at: QueueClock.now())], now: QueueClock.now())
            let app = try application(path)
            let cases = [
                ("F-1", "withdrawal_too_late_request_in_flight"), ("S-1", "withdrawal_too_late_job_final"),
                ("NOPE-1", "withdrawal_order_unknown"),
            ]
            for (order, named) in cases {
                do throws(SQLiteError) {
                    try app.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, 'oops')", order)
                    Issue.record("\(order): withdrawal accepted")
                } catch {
                    #expect(error.isTriggerAbort && error.message.hasPrefix(named), "\(order): \(error)")
                    #expect(WithdrawalRefusal(message: error.message) != nil)
                }
            }
            #expect(try state(store, "F-1") == "sent/-")
            #expect(try state(store, "S-1") == "succeeded/cancelled")
            #expect(try store.connection.queryOne("SELECT count(*) FROM cancellation_withdrawals") { $0.int(0) } == 0)
        }
    }

    @Test("around the insert: setting the state by hand, un-withdrawing, deleting, or editing the record are refused")
    func bypassesRefused() async throws {
        try await withStore(orders: ["B-1", "B-2", "B-3"]) { store, path in
            let app = try application(path)
            _ = try await claim(store, "B-2")
            func refused(_ sql: String, _ named: String) {
                do throws(SQLiteError) {
                    try app.run(sql)
                    Issue.record("accepted: \(sql)")
                } catch {
                    #expect(error.message.contains(named), "\(sql): \(error)")
                }
            }
            // Withdrawn without a record, and on a job in flight.
            refused("UPDATE cancellations SET state = 'withdrawn', outcome = 'withdrawn' WHERE order_number = 'B-1'", "withdraw_by_insert")
            refused("UPDATE cancellations SET state = 'withdrawn', outcome = 'withdrawn' WHERE order_number = 'B-2'", "withdraw_by_insert")
            // A record inserted with its own time or id.
            refused("INSERT INTO cancellation_withdrawals(order_number, at) VALUES ('B-1', 5)", "withdrawal_insert_sets_only")
            refused("INSERT INTO cancellation_withdrawals(id, order_number) VALUES (77, 'B-1')", "withdrawal_insert_sets_only")
            #expect(try state(store, "B-1") == "waiting-delay/-")
            try app.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('B-1', 'wrong shop')")
            // Withdrawn is final; the record and the job stay.
            refused("UPDATE cancellations SET state = 'waiting-delay', outcome = NULL, due_at = 0 WHERE order_number = 'B-1'", "withdrawn_is_final")
            refused("DELETE FROM cancellations WHERE order_number = 'B-1'", "withdrawn job is part of the audit trail")
            refused("UPDATE cancellation_withdrawals SET reason = 'edited'", "cannot be changed")
            refused("DELETE FROM cancellation_withdrawals", "cannot be deleted")
            // A second withdrawal of the same job is too late.
            refused("INSERT INTO cancellation_withdrawals(order_number) VALUES ('B-1')", "withdrawal_too_late_job_final")
            #expect(try state(store, "B-1") == "withdrawn/withdrawn")
            #expect(try state(store, "B-2") == "sent/-")
            #expect(try SchemaCheck.problems(store.connection).isEmpty)
        }
    }

    @Test("cancelq withdraw: each order withdrawn or refused with why; the operator and reason recorded; earlier attempts kept")
    func operatorWithdraw() async throws {
        try await withStore(orders: ["O-1", "O-2", "O-3", "O-4"]) { store, _ in
            // O-3 was sent once and is retrying: withdrawable between attempts.
            let sent = try await claim(store, "O-3")
            var job = sent.record.job
            var random = SeededGenerator(seed: 1)
            let now = QueueClock.now()
            let decision = try job.handle(.answered(.failure("02189999")), gate: .open, policy: .standard, now: now, random: &random)
            var retrying = sent.record
            retrying.job = job
            try await store.apply(
                [JobWrite(expectedState: .sent, record: retrying,
                          attempt: .complete(number: 1, at: now, result: AttemptResult(httpStatus: 200, status: "failure", code: "02189999", counted: decision.countsAttempt)))],
                now: now)
            _ = try await claim(store, "O-4")
            let results = try await store.withdraw(orderNumbers: ["O-1", "O-3", "O-4", "NONE"], reason: "customer kept the order", by: "alice")
            #expect(results == [
                .withdrawn(orderNumber: "O-1", previousState: .waitingDelay),
                .withdrawn(orderNumber: "O-3", previousState: .retrying),
                .refused(orderNumber: "O-4", reason: "too late: a request has already left and waits for its answer (it is sent)"),
                .refused(orderNumber: "NONE", reason: "no such order in the queue"),
            ])
            #expect(try state(store, "O-3") == "withdrawn/withdrawn")
            let timeline = try #require(try await store.timeline(orderNumber: "O-3"))
            #expect(timeline.attempts.map(\.code) == ["02189999"], "the earlier attempt stays in the audit trail")
            #expect(timeline.withdrawals.map(\.reason) == ["customer kept the order"])
            #expect(timeline.operatorActions.map(\.operator) == ["alice"])
            #expect(timeline.operatorActions.first?.action == "withdraw")
            #expect(try store.connection.queryOne("SELECT count(*) FROM operator_actions WHERE action = 'withdraw'") { $0.int(0) } == 2)
            // A withdrawn job is not requeued either.
            #expect(try await store.requeue(orderNumbers: ["O-1"], by: "bob").first == .refused(
                orderNumber: "O-1", reason: "it is withdrawn: the job was withdrawn before a request left; nothing may change it"))
        }
    }

    @Test("the surge count: jobs enqueued in the window, capped one past the limit, and none from before the last approval")
    func surgeCount() async throws {
        try await withStore { store, _ in
            for index in 0..<30 { _ = try store.enqueueNow(orderNumber: "N-\(index)", paidAt: nil) }
            let now = QueueClock.now()
            let limit = SurgeLimit(holdAbove: 10, window: 60)
            let counted = try store.enqueuedForSurgeNow(now: now, limit: limit)
            #expect(counted.enqueued == 11, "counting stops one past the limit")
            #expect(counted.countedFrom == now - 60)
            #expect(try store.enqueuedForSurgeNow(now: now, limit: SurgeLimit(holdAbove: 100, window: 60)).enqueued == 30)
            // Outside the window: nothing.
            #expect(try store.enqueuedForSurgeNow(now: now + 120, limit: limit).enqueued == 0)
            // Hold, approve: what was approved no longer counts; new jobs do.
            try store.saveGateNow(.held(try #require(limit.surge(enqueued: 11, countedFrom: now - 60)), since: now), now: now)
            guard case .released(let released) = try await store.approve(by: "carol", now: now + 1) else {
                Issue.record("not released")
                return
            }
            #expect(released.backlog == 30)
            #expect(try store.loadGateNow() == .open)
            // The audit line is readable: UTC times, with the unix seconds beside them.
            let detail = try #require(try store.connection.queryOne("SELECT detail FROM operator_actions WHERE action = 'approve'") { $0.optionalString(0) } ?? nil)
            let shown = Date(timeIntervalSince1970: now).formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
            #expect(detail.contains("held since \(shown) (\(now))") && detail.hasPrefix("released 30 waiting job(s)"), "\(detail)")
            #expect(try store.lastApprovalNow() == now + 1)
            #expect(try store.enqueuedForSurgeNow(now: now + 1, limit: limit).enqueued == 0)
            try await Task.sleep(nanoseconds: 20_000_000)
            _ = try store.enqueueNow(orderNumber: "AFTER-1", paidAt: nil)
            #expect(try store.enqueuedForSurgeNow(now: QueueClock.now(), limit: SurgeLimit(holdAbove: 10, window: 60)).enqueued <= 1)
        }
    }

    @Test("approve with nothing held changes nothing and records nothing; a held gate is released once, by whom")
    func approveOnlyWhatIsHeld() async throws {
        try await withStore(orders: ["A-1"]) { store, _ in
            let now = QueueClock.now()
            #expect(try await store.approve(by: "mallory", now: now) == .notHeld(.open))
            #expect(try store.lastApprovalNow() == nil, "an approval with nothing held would raise the bar for the next surge")
            try store.saveGateNow(.paused(until: now + 300, streak: 1, since: now), now: now)
            #expect(try await store.approve(by: "mallory", now: now) == .notHeld(.paused))
            #expect(try store.loadGateNow().mode == .paused)
            #expect(try store.connection.queryOne("SELECT count(*) FROM operator_actions") { $0.int(0) } == 0)

            let surge = Surge(enqueued: 1001, window: 3600, holdAbove: 1000, countedFrom: now - 3600)
            try store.saveGateNow(.held(surge, since: now), now: now)
            #expect(try store.loadGateNow() == .held(surge, since: now), "the hold's figures survive a reload")
            // resume does not release a hold.
            #expect(try await store.resumeSending(by: "dave", now: now).mode == .held)
            #expect(try store.loadGateNow().mode == .held)
            let shown = try #require(try await store.heldBacklog())
            #expect(shown.surge == surge && shown.since == now && shown.backlog == 1)
            let report = try store.statusReport(now: now, startOfDay: 0)
            #expect(report.sending.mode == .held && report.sending.hold?.holdAbove == 1000 && report.sending.hold?.windowSeconds == 3600)
            #expect(report.health.status == .attention)
            #expect(report.health.reasons.contains { $0.hasPrefix("sending held: more than 1000 jobs were enqueued within 1 h") && $0.contains("cancelq approve") })
            guard case .released(let released) = try await store.approve(shown: shown, by: "erin", now: now) else {
                Issue.record("not released")
                return
            }
            #expect(released.held == shown && released.approvedAt == now)
            #expect(try await store.approve(by: "erin", now: now) == .notHeld(.open))
            #expect(try store.lastApprovalNow() == now, "jobs enqueued from the approval on count toward the next surge")
            let actions = try store.connection.query("SELECT action, operator FROM operator_actions ORDER BY id") { "\($0.string(0)) \($0.optionalString(1) ?? "-")" }
            #expect(actions == ["approve erin"])
            // The audit trail of operator actions is append-only.
            #expect(throws: SQLiteError.self) { try store.connection.run("UPDATE operator_actions SET operator = 'someone else'") }
            #expect(throws: SQLiteError.self) { try store.connection.run("DELETE FROM operator_actions") }
        }
    }

    @Test("a withdrawal racing the daemon's claim, 1,000 times: exactly one wins, and a withdrawn job has no attempt")
    func withdrawalRacesClaim() async throws {
        try await withStore { store, path in
            var withdrawnCount = 0
            var claimedCount = 0
            for index in 0..<1000 {
                let order = "RACE-\(index)"
                let now = QueueClock.now()
                _ = try store.enqueueNow(orderNumber: order, paidAt: now - 60)
                let record = try #require(try store.pendingJobs(limit: 1).first)
                try await store.apply([try QueueStoreConformance.discovered(record, due: now - 50)], now: now)
                let due = try #require(try store.job(orderNumber: order))
                let claim = try QueueStoreConformance.claimed(due, at: now)
                // The daemon read the job as due; the application withdraws it on another thread now.
                let withdrawal = Task.detached { () -> Result<Void, SQLiteError> in
                    do throws(SQLiteError) {
                        let app = try Connection(path: path)
                        try app.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, 'race')", order)
                        return .success(())
                    } catch {
                        return .failure(error)
                    }
                }
                if index % 2 == 0 { await Task.yield() }
                let tampered = try await store.apply([claim], now: now)
                let result = await withdrawal.value
                let attempts = try store.connection.queryOne(
                    "SELECT count(*) FROM cancellation_attempts WHERE cancellation_id = ?", [record.id]) { $0.int(0) } ?? -1
                switch result {
                case .success:
                    withdrawnCount += 1
                    #expect(tampered.count == 1 && tampered[0].isClaim && !tampered[0].jobUpdated, "\(order): claimed although withdrawn")
                    #expect(attempts == 0, "\(order): an attempt row for a withdrawn job")
                    #expect(try state(store, order) == "withdrawn/withdrawn")
                case .failure(let error):
                    claimedCount += 1
                    #expect(tampered.isEmpty, "\(order): neither won")
                    #expect(error.message.hasPrefix("withdrawal_too_late_request_in_flight"), "\(order): \(error)")
                    #expect(attempts == 1)
                    #expect(try state(store, order) == "sent/-")
                }
            }
            #expect(withdrawnCount + claimedCount == 1000)
            print("withdrawal vs claim: \(withdrawnCount) withdrawn, \(claimedCount) claimed")
        }
    }
}
