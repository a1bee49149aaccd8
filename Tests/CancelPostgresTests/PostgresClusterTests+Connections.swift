import CancelCore
import Foundation
import Logging
import CancelQueue
import CancelStore
import QueueStoreConformance
import Testing
import TestSupport

@testable import CancelPostgres

/// Connections, restarts and commits whose answer was lost, for several daemons on one queue.
extension PostgresClusterTests {
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
                queue.uncertainCommit = UncertainCommit(token: token, report: report, backend: nil, writes: claims, gate: nil)
                let retried = try await queue.commit(claims, gate: nil, now: Self.t0)
                #expect(retried == report, "the refused claim must not be launched on the retry")
                #expect(try database.psql("SELECT state || '/' || (SELECT count(*) FROM cancellation_attempts) FROM cancellations") == "waiting-delay/0")
                // A commit that did not happen is written again in full.
                queue.uncertainCommit = UncertainCommit(token: "never-committed", report: [], backend: nil, writes: claims, gate: nil)
                let again = try await queue.commit(claims, gate: nil, now: Self.t0)
                #expect(again.map(\.contended) == [true])
            }
        }
    }

    @Test("a COMMIT whose answer was lost and that did happen stands for its own batch only: the next turn's other writes are written")
    func uncertainCommitStandsForItsBatchOnly() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1"]) { queues in
                let queue = queues[0]
                try await queue.join()
                try await due(["V-1", "V-2"], in: queue)
                let due = try await queue.dueJobs(now: Self.t0, limit: 2)
                let first = try C.claimed(due[0], at: Self.t0)
                #expect(try await queue.commit([first], gate: nil, now: Self.t0).isEmpty)
                // As if that commit's answer had been lost: it did happen, and the loop goes on
                // with another batch (a failed discovery's turn, then the turn with the answers).
                let token = try database.psql("SELECT last_commit FROM cancelq_daemons WHERE node = 'node-1'")
                queue.uncertainCommit = UncertainCommit(token: token, report: [], backend: nil, writes: [first], gate: nil)
                let paused = SendingGate.paused(until: Self.t0 + 600, streak: 1, since: Self.t0)
                #expect(try await queue.commit([try C.claimed(due[1], at: Self.t0)], gate: paused, now: Self.t0).map(\.contended) == [true])
                #expect(try await queue.loadGate() == paused, "the other batch's gate was written, not taken for the lost commit's")
                #expect(try database.psql("SELECT string_agg(order_number || ' ' || state, ', ' ORDER BY id) FROM cancellations") == "V-1 sent, V-2 waiting-delay")
                // The same batch retried (its claim restamped) takes the lost commit's report, writing nothing again.
                queue.uncertainCommit = UncertainCommit(token: try database.psql("SELECT last_commit FROM cancelq_daemons WHERE node = 'node-1'"),
                    report: [], backend: nil, writes: [first], gate: nil)
                #expect(try await queue.commit([first.restarted(at: Self.t0 + 1)], gate: nil, now: Self.t0 + 1).isEmpty)
                #expect(try database.psql("SELECT count(*) FROM cancellation_attempts") == "1")
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
                let claims = try await queue.dueJobs(now: Self.t0, limit: 1).map { try C.claimed($0, at: Self.t0) }
                queue.uncertainCommit = UncertainCommit(token: "late-token", report: [], backend: backend, writes: claims, gate: nil)
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
