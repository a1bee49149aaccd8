import CancelCore
import Foundation
import Logging
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
                // Both transactions are open at once: the second skips what the first locked.
                let first = try await queues[0].dueJobs(now: Self.t0, limit: 12)
                let second = try await queues[1].dueJobs(now: Self.t0, limit: 12)
                #expect(first.count == 12 && second.count == 8)
                #expect(Set(first.map(\.id)).isDisjoint(with: second.map(\.id)))
                #expect(try await queues[0].commit(try first.map { try C.claimed($0, at: Self.t0) }, gate: nil, now: Self.t0).isEmpty)
                #expect(try await queues[1].commit(try second.map { try C.claimed($0, at: Self.t0) }, gate: nil, now: Self.t0).isEmpty)
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
                    let read = try await daemon.dueJobs(now: Self.t0, limit: 1)
                    let claims = try read.map { try C.claimed($0, at: Self.t0) }
                    let skipped = try await daemon.commit(claims, gate: nil, now: Self.t0)
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

    @Test("a statement unanswered past the deadline gives the connection up as unavailable, and the next one reconnects")
    func statementDeadline() async throws {
        try await PostgresTestDatabase.with { database in
            let queue = PostgresQueue(
                location: database.location, node: "deadline", logger: Logger(label: "test"), statementDeadline: .milliseconds(500))
            #expect(try await queue.sqlColumn("SELECT 1") == ["1"])
            let started = ContinuousClock.now
            do {
                _ = try await queue.sqlColumn("SELECT pg_sleep(30)")
                Issue.record("a 30 s statement returned under a 0.5 s deadline")
            } catch let error as StoreError {
                guard case .unavailable(_, let reason) = error else { throw error }
                #expect(reason.contains("no answer to a statement within"), "\(reason)")
            }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(try await queue.sqlColumn("SELECT 2") == ["2"], "reconnected")
            await queue.close()
        }
    }

    @Test("a hand-made daemon row (control characters, a bidirectional override, NaN times) is carried as written, cut short, with finite times (every output escapes it)")
    func handMadeDaemonRow() async throws {
        try await PostgresTestDatabase.with { database in
            let queue = try database.queue(node: "reader")
            try database.psql(
                "INSERT INTO cancelq_daemons(node, host, pid, started_at, heartbeat_at, lease_seconds) VALUES (E'evil\\n\\u001b[2Jname', E'h\\tost', 1, 'NaN', cancelq_now(), 40)")
            try database.psql(
                "INSERT INTO cancelq_daemons(node, host, pid, started_at, heartbeat_at, lease_seconds) VALUES (E'bidi\\u202Eeman', 'h', 2, 1, cancelq_now(), 40)")
            let report = try await queue.statusReport(now: Self.t0, startOfDay: Self.t0 - 3600)
            #expect(report.daemons?.first?.name == "bidi\u{202E}eman")
            let daemon = try #require(report.daemons?.last)
            #expect(daemon.name == "evil\n\u{1B}[2Jname" && daemon.host == "h\tost" && daemon.startedAt == 0, "\(daemon)")
            #expect(throws: Never.self) { try JSONEncoder().encode(report) }
            await queue.close()
        }
    }

    @Test("a job left in flight with no owner (copied from SQLite) is rescued, not retried forever")
    func ownerlessJobRescued() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1"]) { queues in
                try await queues[0].join()
                try await due(["NO-OWNER"], in: queues[0])
                // As `copy-to-postgresql` leaves a job the last SQLite run had in flight.
                try database.psql("UPDATE cancellations SET state = 'sent', request_count = 1, due_at = NULL")
                try database.psql("INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at) SELECT id, 1, 1 FROM cancellations")
                let abandoned = try await queues[0].abandonedJobs()
                #expect(abandoned.map(\.orderNumber) == ["NO-OWNER"] && abandoned[0].owner == nil)
                #expect(try await queues[0].commit(try abandoned.map(rescued), gate: nil, now: Self.t0).isEmpty)
                #expect(try database.psql("SELECT state FROM cancellations") == "retrying")
                #expect(try database.psql("SELECT error FROM cancellation_attempts").hasPrefix("outcome unknown"))
            }
        }
    }

    @Test("a daemon restarted under its --node-name on the same host is not kept out by its own dead predecessor")
    func deadPredecessorOnThisHost() async throws {
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["solo", "solo"]) { queues in
                try await queues[0].join()
                // Its predecessor on this host died a moment ago; its heartbeat is still fresh.
                try database.psql("UPDATE cancelq_daemons SET pid = \(finished.processIdentifier)")
                try await queues[1].join()
                #expect(try database.psql("SELECT pid FROM cancelq_daemons WHERE node = 'solo'") == "\(getpid())")
            }
        }
    }

    @Test("a deadlock PostgreSQL breaks is a transient error, which the loop waits out and retries, never a stop")
    func deadlockIsTransient() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["one", "two"]) { queues in
                try database.psql("INSERT INTO cancellations(order_number) VALUES ('DL-1'), ('DL-2')")
                for queue in queues { _ = try await queue.sqlColumn("BEGIN") }
                _ = try await queues[0].sqlColumn("UPDATE cancellations SET updated_at = 1 WHERE order_number = 'DL-1'")
                _ = try await queues[1].sqlColumn("UPDATE cancellations SET updated_at = 1 WHERE order_number = 'DL-2'")
                async let first = queues[0].sqlColumn("UPDATE cancellations SET updated_at = 2 WHERE order_number = 'DL-2'")
                try await Task.sleep(nanoseconds: 100_000_000)
                let second: StoreError?
                do {
                    _ = try await queues[1].sqlColumn("UPDATE cancellations SET updated_at = 2 WHERE order_number = 'DL-1'")
                    second = nil
                } catch let error as StoreError {
                    second = error
                }
                let firstError: StoreError?
                do {
                    _ = try await first
                    firstError = nil
                } catch let error as StoreError {
                    firstError = error
                }
                let victims = [firstError, second].compactMap { $0 }
                #expect(victims.count == 1 && victims[0].isTransient, "\(victims)")
                #expect(victims.first?.description.contains("deadlock") == true)
                for queue in queues { _ = try? await queue.sqlColumn("ROLLBACK") }
            }
        }
    }

    @Test("a COMMIT whose answer was lost and that did happen is not written again, and its refusals still stand")
    func uncertainCommitKeepsItsReport() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1"]) { queues in
                let queue = queues[0]
                try await queue.join()
                try await due(["U-1"], in: queue)
                try await queue.saveGate(.paused(until: Self.t0 + 600, streak: 1, since: Self.t0), now: Self.t0)
                let claims = try await queue.dueJobs(now: Self.t0, limit: 1).map { try C.claimed($0, at: Self.t0) }
                let report = try await queue.commit(claims, gate: nil, now: Self.t0)
                #expect(report.map(\.contended) == [true], "the paused gate refused the claim")
                // As if the connection had dropped before COMMIT's answer: the loop retries the batch.
                let token = try database.psql("SELECT last_commit FROM cancelq_daemons WHERE node = 'node-1'")
                queue.uncertainCommit = (token, report, nil)
                let retried = try await queue.commit(claims, gate: nil, now: Self.t0)
                #expect(retried == report, "the refused claim must not be launched on the retry")
                #expect(try database.psql("SELECT state || '/' || (SELECT count(*) FROM cancellation_attempts) FROM cancellations") == "waiting-delay/0")
                // A commit that did not happen is written again in full.
                queue.uncertainCommit = ("never-committed", [], nil)
                let again = try await queue.commit(claims, gate: nil, now: Self.t0)
                #expect(again.map(\.contended) == [true])
            }
        }
    }

    @Test("the server process of a COMMIT without answer is ended before its token is read: it could still commit later")
    func uncertainCommitEndsItsBackend() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1", "lingering"]) { queues in
                let (queue, lingering) = (queues[0], queues[1])
                try await queue.join()
                try await due(["L-1"], in: queue)
                // Another server process holds an open transaction that would write the token (as a
                // COMMIT stuck behind a stopped process or a missing standby would).
                _ = try await lingering.sqlColumn("BEGIN")
                _ = try await lingering.sqlColumn("UPDATE cancelq_daemons SET last_commit = 'late-token' WHERE node = 'node-1'")
                let backend = try #require(lingering.session.backend)
                queue.uncertainCommit = ("late-token", [], backend)
                let claims = try await queue.dueJobs(now: Self.t0, limit: 1).map { try C.claimed($0, at: Self.t0) }
                let report = try await queue.commit(claims, gate: nil, now: Self.t0)
                #expect(report.isEmpty, "the lingering transaction was ended, so the batch was written anew: \(report)")
                #expect(try database.psql("SELECT count(*) FROM pg_stat_activity WHERE pid = \(backend.pid)") == "0")
                #expect(try database.psql("SELECT state || '/' || (SELECT count(*) FROM cancellation_attempts) FROM cancellations") == "sent/1")
            }
        }
    }

    @Test("a killed process not yet reaped (a zombie) counts as gone; a live one and pid 0 do not")
    func zombieIsGone() async throws {
        var pid: pid_t = 0
        let arguments: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
        defer { arguments.forEach { free($0) } }
        #expect(posix_spawn(&pid, "/bin/sleep", nil, nil, arguments, nil) == 0)
        #expect(!PostgresQueue.processIsGone(Int(pid)) && !PostgresQueue.processIsGone(0))
        kill(pid, SIGKILL)
        try await Task.sleep(for: .milliseconds(200))
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        #expect(stat.contains(") Z"), "not reaped yet, so a zombie: \(stat)")
        #expect(PostgresQueue.processIsGone(Int(pid)))
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(PostgresQueue.processIsGone(Int(pid)), "reaped: no such process")
    }
}
