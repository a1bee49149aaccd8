import CancelCore
import CancelQueue
import CancelStore
import Foundation
import SQLite
import Testing
import TestSupport

@testable import CancelDaemon

/// Withdrawals and the surge hold against the real loop, with the clock and the gateway in the test's hands.
extension InProcessLoopTests {
    /// An application's insert, from its own connection.
    static func applicationInsert(_ path: String, _ orders: [String], paidAt: Double) throws {
        let app = try Connection(path: path)
        try app.transaction {
            for order in orders { try app.run("INSERT INTO cancellations(order_number, paid_at) VALUES (?, ?)", order, paidAt) }
        }
    }

    @Test("a surge holds sending before any of it leaves; approve releases the backlog; the next surge holds again")
    func surgeHoldAndApproval() async throws {
        let orders = (1...5).map { "SURGE-\($0)" }
        try await withRig(
            orders: orders, policy: try RetryPolicy(jitter: 0), surgeLimit: SurgeLimit(holdAbove: 3, window: 3600), exitWhenIdle: false
        ) { rig in
            defer { rig.daemon.inbox.requestStop() }
            #expect(await eventually(timeout: 5) { (try? rig.gate().mode) == .held })
            rig.advance(by: 600)
            try await Task.sleep(nanoseconds: 100_000_000)
            #expect(rig.transport.sent.isEmpty, "a request left during a surge hold")
            guard case .held(let surge, _) = try rig.gate() else { return }
            #expect(surge.enqueued == 4 && surge.holdAbove == 3 && surge.window == 3600)
            // Applications keep inserting while held.
            try Self.applicationInsert(rig.store.path, ["SURGE-6"], paidAt: QueueClock.now() - 60)
            let operatorStore = try CancelStore.openMigrated(path: rig.store.path)
            #expect(try await operatorStore.heldBacklog()?.backlog == 6)
            guard case .released = try await operatorStore.approve(by: "tester") else {
                Issue.record("approve did not release")
                return
            }
            rig.daemon.inbox.nudge()
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 6 })
            #expect(await eventually(timeout: 5) { (try? rig.state("SURGE-6")) == "succeeded/cancelled" })
            // The next surge after the approval holds again; the approved ones do not count.
            let next = (1...4).map { "NEXT-\($0)" }
            try Self.applicationInsert(rig.store.path, next, paidAt: QueueClock.now() - 60)
            rig.daemon.inbox.nudge()
            #expect(await eventually(timeout: 5) { (try? rig.gate().mode) == .held })
            try await Task.sleep(nanoseconds: 100_000_000)
            #expect(rig.transport.sent.count == 6, "the second surge went out")
            _ = try await operatorStore.approve(by: "tester")
            rig.daemon.inbox.nudge()
            #expect(await eventually(timeout: 5) { next.allSatisfy { (try? rig.state($0)) == "succeeded/cancelled" } })
        }
    }

    @Test("exactly hold-above jobs do not hold; nothing in flight is lost when a hold starts")
    func holdKeepsWhatIsInFlight() async throws {
        let first = ["FLY-1", "FLY-2", "FLY-3"]
        try await withRig(orders: first, policy: try RetryPolicy(jitter: 0), surgeLimit: SurgeLimit(holdAbove: 3, window: 3600)) { rig in
            for order in first { rig.transport.delayAnswers(for: order) }
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 3 })
            #expect(try rig.gate() == .open, "3 jobs at a limit of 3 is no surge")
            // A fourth job is the surge: sending holds while three requests are in flight.
            try Self.applicationInsert(rig.store.path, ["FLY-4"], paidAt: QueueClock.now() - 60)
            rig.daemon.inbox.nudge()
            #expect(await eventually(timeout: 5) { (try? rig.gate().mode) == .held })
            rig.transport.release()
            #expect(await eventually(timeout: 5) { first.allSatisfy { (try? rig.state($0)) == "succeeded/cancelled" } })
            #expect(try first.allSatisfy { try rig.attemptRows($0) == ["success/000"] }, "every answer in flight is recorded")
            try await Task.sleep(nanoseconds: 100_000_000)
            #expect(rig.transport.sent.count == 3, "FLY-4 left during the hold")
            #expect(try rig.state("FLY-4") == "waiting-delay/-")
            _ = try await CancelStore.openMigrated(path: rig.store.path).approve(by: "tester")
            rig.daemon.inbox.nudge()
            #expect(await eventually(timeout: 5) { (try? rig.state("FLY-4")) == "succeeded/cancelled" })
        }
    }

    @Test("a retrying job withdrawn between attempts is never sent again; its first attempt stays")
    func withdrawWhileRetrying() async throws {
        try await withRig(orders: ["WR-1"], policy: try RetryPolicy(jitter: 0)) { rig in
            rig.transport.script("WR-1", [.gateway("failure", "02189999")])
            #expect(await eventually(timeout: 5) { (try? rig.state("WR-1")) == "retrying/-" })
            let results = try await CancelStore.openMigrated(path: rig.store.path).withdraw(
                orderNumbers: ["WR-1"], reason: "customer kept the order", by: "tester")
            #expect(results == [.withdrawn(orderNumber: "WR-1", previousState: .retrying)])
            rig.advance(by: 3600)
            try await Task.sleep(nanoseconds: 100_000_000)
            #expect(rig.transport.sent.count == 1)
            #expect(try rig.attemptRows("WR-1") == ["failure/02189999"])
            #expect(try rig.state("WR-1") == "withdrawn/withdrawn")
        }
    }

    @Test("withdrawals racing the running daemon, 1,000 orders: a withdrawn order never reaches the gateway, a refused one did")
    func withdrawRacesTheDaemon() async throws {
        try await withRig(orders: [], concurrency: 8, policy: try RetryPolicy(jitter: 0), exitWhenIdle: false) { rig in
            let app = try Connection(path: rig.store.path)
            var withdrawn: [String] = []
            var refused: [String] = []
            var random = SystemRandomNumberGenerator()
            for index in 0..<1000 {
                let order = "DR-\(index)"
                try app.run("INSERT INTO cancellations(order_number, paid_at) VALUES (?, ?)", order, rig.clock.now - 60)
                rig.daemon.inbox.nudge()
                // Sometimes at once, sometimes after the daemon had time to discover or claim it.
                let pause = UInt64.random(in: 0...2_000_000, using: &random)
                if pause > 200_000 { try await Task.sleep(nanoseconds: pause) }
                do throws(SQLiteError) {
                    try app.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, 'race')", order)
                    withdrawn.append(order)
                } catch {
                    #expect(error.message.hasPrefix("withdrawal_too_late"), "\(order): \(error)")
                    refused.append(order)
                }
            }
            #expect(await eventually(timeout: 20) { (try? CancelStore.openReadOnly(path: rig.store.path).hasUnfinishedJobsNow()) == false })
            rig.daemon.inbox.requestStop()
            let sent = rig.transport.sent.map(\.order)
            let sentSet = Set(sent)
            #expect(sent.count == sentSet.count, "an order was sent twice")
            for order in withdrawn {
                #expect(!sentSet.contains(order), "\(order) was withdrawn and still reached the gateway")
                #expect(try rig.attemptRows(order).isEmpty, "\(order): withdrawn with an attempt row")
                #expect(try rig.state(order) == "withdrawn/withdrawn")
            }
            for order in refused {
                #expect(sentSet.contains(order), "\(order): withdrawal refused but never sent")
                #expect(try rig.attemptRows(order) == ["success/000"])
            }
            #expect(withdrawn.count + refused.count == 1000)
            print("withdrawal vs running daemon: \(withdrawn.count) withdrawn, \(refused.count) too late")
        }
    }
}
