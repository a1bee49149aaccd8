import CancelCore
import Foundation
import Logging
import CancelQueue
import CancelStore
import QueueStoreConformance
import Testing
import TestSupport

@testable import CancelPostgres

/// Several daemons on one queue, driven step by step through the store as their loops would.
@Suite("PostgreSQL: several daemons", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresClusterTests {
    typealias C = QueueStoreConformance
    static let t0 = C.t0

    /// Enqueues `orders` and makes them due, through `queue`.
    func due(_ orders: [String], in queue: PostgresQueue) async throws {
        for order in orders { _ = try await queue.enqueue(orderNumber: order, paidAt: Self.t0 - 60) }
        let new = try await queue.newJobs(limit: 1000)
        #expect(try await queue.commit(try new.map { try C.discovered($0, due: Self.t0 - 50) }, gate: nil, now: Self.t0).isEmpty)
    }

    /// What the loop writes for a job found in flight in a dead daemon.
    func rescued(_ record: JobRecord) throws -> JobWrite {
        var job = record.job
        var random = SystemRandomNumberGenerator()
        let decision = try job.handle(.recoveredAfterCrash, gate: .open, policy: try RetryPolicy(jitter: 0), now: Self.t0, random: &random)
        var updated = record
        updated.job = job
        updated.lastError = "outcome unknown: its daemon \(record.owner ?? "?") stopped heartbeating; rescued"
        return JobWrite(
            expectedState: .sent, record: updated,
            attempt: .complete(
                number: record.requestCount, at: Self.t0 + 2,
                result: AttemptResult(error: updated.lastError, counted: decision.countsAttempt)),
            attemptOnlyWithJob: true)
    }

    @Test("two daemons reading due jobs at once get disjoint sets; every claim has its owner and attempt row")
    func claimsNeverOverlap() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1", "node-2"]) { queues in
                try await due((1...20).map { "O-\($0)" }, in: queues[0])
                // Both turns are open at once: the second skips what the first locked.
                try await queues[0].turn { firstTurn in
                    let first = try await firstTurn.dueJobs(now: Self.t0, limit: 12)
                    try await queues[1].turn { secondTurn in
                        let second = try await secondTurn.dueJobs(now: Self.t0, limit: 12)
                        #expect(first.count == 12 && second.count == 8)
                        #expect(Set(first.map(\.id)).isDisjoint(with: second.map(\.id)))
                        #expect(try await secondTurn.commit(try second.map { try C.claimed($0, at: Self.t0) }, gate: nil, now: Self.t0).isEmpty)
                    }
                    #expect(try await firstTurn.commit(try first.map { try C.claimed($0, at: Self.t0) }, gate: nil, now: Self.t0).isEmpty)
                }
                #expect(try database.psql("SELECT owner, count(*) FROM cancellations WHERE state = 'sent' GROUP BY owner ORDER BY owner")
                    == "node-1|12\nnode-2|8")
                #expect(try database.psql("SELECT count(DISTINCT cancellation_id) || '/' || count(*) FROM cancellation_attempts WHERE node IS NOT NULL") == "20/20")
            }
        }
    }

    @Test("a claim made while another daemon paused or halted the shared gate is refused, not sent")
    func sharedGateRefusesClaims() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1", "node-2"]) { queues in
                try await due(["G-1", "G-2"], in: queues[0])
                let due = try await queues[0].dueJobs(now: Self.t0, limit: 10)
                _ = try await queues[0].commit([], gate: nil, now: Self.t0)
                for gate in [SendingGate.paused(until: Self.t0 + 600, streak: 1, since: Self.t0), .halted(.credentialsRejected(code: "02130210"), since: Self.t0)] {
                    try await queues[1].saveGate(gate, now: Self.t0)
                    let result = try await queues[0].commit(try due.map { try C.claimed($0, at: Self.t0) }, gate: nil, now: Self.t0)
                    #expect(result.count == 2 && result.allSatisfy { $0.contended && $0.isClaim && !$0.jobUpdated }, "\(result)")
                    #expect(try database.psql("SELECT count(*) FROM cancellations WHERE state = 'sent'") == "0")
                    #expect(try database.psql("SELECT count(*) FROM cancellation_attempts") == "0")
                }
            }
        }
    }

    @Test("after a maintenance pause one probe goes for the whole cluster; its answer reopens sending for all")
    func oneProbeForTheCluster() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1", "node-2"]) { queues in
                try await due(["P-1", "P-2"], in: queues[0])
                try await queues[0].saveGate(.paused(until: Self.t0 - 1, streak: 1, since: Self.t0 - 300), now: Self.t0)
                let one = try await queues[0].dueJobs(now: Self.t0, limit: 1)
                let probe = try C.claimed(one[0], at: Self.t0)
                #expect(try await queues[0].commit([probe], gate: nil, now: Self.t0).isEmpty)
                let other = try await queues[1].dueJobs(now: Self.t0, limit: 1)
                let refused = try await queues[1].commit([try C.claimed(other[0], at: Self.t0)], gate: nil, now: Self.t0)
                #expect(refused.map(\.contended) == [true], "a second probe while the first is in flight")
                // The probe answers: sending reopens for every daemon, and node-2's claim now goes.
                _ = try await queues[0].commit([try C.answered(probe, at: Self.t0 + 1)], gate: .open, now: Self.t0 + 1)
                #expect(try await queues[1].loadGate() == .open)
                let again = try await queues[1].dueJobs(now: Self.t0, limit: 1)
                #expect(try await queues[1].commit([try C.claimed(again[0], at: Self.t0 + 1)], gate: nil, now: Self.t0 + 1).isEmpty)
            }
        }
    }

    @Test("two daemons' gate decisions meet in the database: the stricter wins")
    func gateDecisionsReconcile() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1", "node-2"]) { queues in
                let pause = SendingGate.paused(until: Self.t0 + 600, streak: 1, since: Self.t0)
                _ = try await queues[0].commit([], gate: pause, now: Self.t0)
                // node-2 still believed a pause had ended and reopens: the newer pause stands.
                _ = try await queues[1].commit([], gate: .open, now: Self.t0)
                #expect(try await queues[1].loadGate() == pause)
                let halt = SendingGate.halted(.credentialsRejected(code: "02130210"), since: Self.t0)
                _ = try await queues[1].commit([], gate: halt, now: Self.t0)
                _ = try await queues[0].commit([], gate: .paused(until: Self.t0 + 900, streak: 2, since: Self.t0), now: Self.t0)
                #expect(try await queues[0].loadGate() == halt, "a pause never lifts a halt")
            }
        }
    }

    @Test("a dead daemon's jobs are rescued by another; an answer that landed first wins; a late answer is still recorded")
    func rescueGuards() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1", "node-2"]) { queues in
                try await queues[0].join()
                try await queues[1].join()
                try await due(["R-1", "R-2"], in: queues[0])
                let claims = try await queues[0].dueJobs(now: Self.t0, limit: 10).map { try C.claimed($0, at: Self.t0) }
                _ = try await queues[0].commit(claims, gate: nil, now: Self.t0)
                #expect(try await queues[1].abandonedJobs().isEmpty, "node-1 is alive")
                _ = try await queues[1].commit([], gate: nil, now: Self.t0)
                // node-1 stops heartbeating: its lease runs out.
                try database.psql("UPDATE cancelq_daemons SET heartbeat_at = heartbeat_at - 3600 WHERE node = 'node-1'")
                let abandoned = try await queues[1].abandonedJobs()
                #expect(abandoned.map(\.orderNumber) == ["R-1", "R-2"] && abandoned.allSatisfy { $0.owner == "node-1" })
                _ = try await queues[1].commit([], gate: nil, now: Self.t0)
                // R-1's answer reaches node-1 and commits before the rescue does.
                let r1 = claims.first { $0.record.orderNumber == "R-1" }!
                let r2 = claims.first { $0.record.orderNumber == "R-2" }!
                #expect(try await queues[0].commit([try C.answered(r1, at: Self.t0 + 1)], gate: nil, now: Self.t0 + 1).isEmpty)
                let rescue = try await queues[1].commit(try abandoned.map(rescued), gate: nil, now: Self.t0 + 2)
                #expect(rescue.map(\.orderNumber) == ["R-1"] && rescue.first?.jobUpdated == false, "\(rescue)")
                #expect(rescue.first?.attempt == nil, "the rescue's 'outcome unknown' is not an answer: nothing to keep")
                #expect(try database.psql("SELECT count(*) FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id WHERE c.order_number = 'R-1'") == "1")
                #expect(try database.psql("SELECT state || '/' || coalesce(outcome, '-') FROM cancellations ORDER BY id") == "succeeded/cancelled\nretrying/-")
                // R-2's answer reaches node-1 after the rescue: it goes into the audit trail as a new row.
                let late = try await queues[0].commit([try C.answered(r2, at: Self.t0 + 3)], gate: nil, now: Self.t0 + 3)
                #expect(late.first?.attempt?.contains("recorded as attempt 2") == true, "\(late)")
                #expect(
                    try database.psql(
                        "SELECT a.attempt || ':' || coalesce(a.result_code, a.error) FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id WHERE c.order_number = 'R-2' ORDER BY a.attempt")
                        .hasPrefix("1:outcome unknown: its daemon node-1 stopped heartbeating; rescued\n2:000"))
            }
        }
    }

    @Test("a second live daemon with the same node name is refused; once the first is dead, the name is free")
    func nodeNames() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["same", "same"]) { queues in
                try await queues[0].join()
                await #expect(throws: StoreError.self) { try await queues[1].join() }
                try database.psql("UPDATE cancelq_daemons SET heartbeat_at = heartbeat_at - 3600")
                try await queues[1].join()
            }
        }
    }

    @Test("a withdrawal racing a daemon's claim has exactly one winner, a thousand times")
    func withdrawalRacesClaim() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["daemon", "application"]) { queues in
                let (daemon, application) = (queues[0], queues[1])
                var withdrawn = 0
                var claimed = 0
                for round in 0..<1000 {
                    let order = "RACE-\(round)"
                    try await due([order], in: daemon)
                    async let withdrawal = application.withdraw(orderNumbers: [order], reason: "race", by: "test")
                    let (claims, skipped) = try await daemon.turn { turn in
                        let claims = try await turn.dueJobs(now: Self.t0, limit: 1).map { try C.claimed($0, at: Self.t0) }
                        return (claims, try await turn.commit(claims, gate: nil, now: Self.t0))
                    }
                    let result = try await withdrawal
                    let attempts = try await daemon.timeline(orderNumber: order)?.attempts.count ?? -1
                    switch result.first {
                    case .withdrawn:
                        withdrawn += 1
                        // The claim never happened, or met the withdrawn row and changed nothing.
                        #expect(claims.isEmpty || skipped.count == 1, "round \(round)")
                        #expect(attempts == 0, "round \(round): a withdrawn job has an attempt row")
                    case .refused(_, let reason):
                        claimed += 1
                        #expect(reason.contains("too late"), "round \(round): \(reason)")
                        #expect(attempts == 1 && skipped.isEmpty, "round \(round)")
                    case nil:
                        Issue.record("round \(round): no result")
                    }
                }
                #expect(withdrawn + claimed == 1000)
                #expect(try database.psql("SELECT count(*) FROM cancellations WHERE state = 'sent'") == "\(claimed)")
                #expect(try database.psql("SELECT count(*) FROM cancellations WHERE state = 'withdrawn'") == "\(withdrawn)")
                #expect(try database.psql("SELECT count(*) FROM cancellation_attempts") == "\(claimed)")
            }
        }
    }

    @Test("a daemon rescues nothing until it has heartbeated for the settling time: the others may have been silent with it")
    func rescueWaitsForSettling() async throws {
        try await PostgresTestDatabase.with { database in
            let dead = try database.queue(node: "was-silent")
            let rescuer = try database.queue(node: "rescuer", rescueSettling: 0.5)
            try await dead.join()
            try await due(["S-1"], in: dead)
            _ = try await dead.commit(try await dead.dueJobs(now: Self.t0, limit: 10).map { try C.claimed($0, at: Self.t0) }, gate: nil, now: Self.t0)
            try database.psql("UPDATE cancelq_daemons SET heartbeat_at = heartbeat_at - 3600 WHERE node = 'was-silent'")
            try await rescuer.join()
            #expect(try await rescuer.abandonedJobs().isEmpty, "just joined: the other's heartbeat may be coming")
            _ = try await rescuer.commit([], gate: nil, now: Self.t0)
            try await Task.sleep(for: .milliseconds(600))
            try await rescuer.beat(inFlight: 0)
            #expect(try await rescuer.abandonedJobs().map(\.orderNumber) == ["S-1"], "settled: the lost daemon's job is rescued")
            _ = try await rescuer.commit([], gate: nil, now: Self.t0)
            await dead.close()
            await rescuer.close()
        }
    }
}
