import CancelQueue
import QueueStoreConformance
import Testing
import TestSupport

@testable import CancelPostgres

/// A turn's transaction is scoped to its closure: whatever the closure does, read without
/// committing, commit, or throw, no transaction and no row lock is left when `turn` returns.
@Suite("PostgreSQL: a turn ends its transaction", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresTurnScopeTests {
    static let t0 = QueueStoreConformance.t0

    func openTransactions(_ database: PostgresTestDatabase) throws -> String {
        try database.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'")
    }

    /// Ten due jobs, and what another daemon can lock of them now.
    func lockableByAnother(_ queue: PostgresQueue) async throws -> Int {
        try await queue.turn { try await $0.dueJobs(now: Self.t0, limit: 100).count }
    }

    @Test("a turn that read and did not commit, or threw, or whose commit failed, leaves nothing open and nothing locked; its handle works only inside it")
    func nothingOutlivesATurn() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["node-1", "node-2"]) { queues in
                try database.psql("INSERT INTO cancellations(order_number, paid_at) SELECT 'SCOPE-' || i, \(Self.t0 - 60) FROM generate_series(1, 10) AS i")
                let found = try await queues[0].newJobs(limit: 10)
                #expect(try await queues[0].commit(try found.map { try QueueStoreConformance.discovered($0, due: Self.t0 - 50) }, gate: nil, now: Self.t0).isEmpty)

                // Read, decide nothing.
                let read = try await queues[0].turn { turn in
                    let due = try await turn.dueJobs(now: Self.t0, limit: 10)
                    #expect(try openTransactions(database) == "1", "the turn's locks are held while it runs")
                    #expect(try await lockableByAnother(queues[1]) == 0, "locked against the other daemon while the turn runs")
                    return due.count
                }
                #expect(read == 10)
                #expect(try openTransactions(database) == "0")
                #expect(try await lockableByAnother(queues[1]) == 10)

                // Read, then throw before the commit.
                await #expect(throws: TestFailure.self) {
                    try await queues[0].turn { turn in
                        _ = try await turn.dueJobs(now: Self.t0, limit: 10)
                        throw TestFailure("the decision failed")
                    }
                }
                #expect(try openTransactions(database) == "0")
                #expect(try await lockableByAnother(queues[1]) == 10)

                // Read, then a commit that fails (its commit mark is refused): nothing written, nothing held.
                try database.psql(
                    """
                    CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no commit today'; END $$;
                    CREATE TRIGGER test_refuse_marks BEFORE UPDATE ON cancelq_daemons FOR EACH STATEMENT EXECUTE FUNCTION test_refuse();
                    """)
                await #expect(throws: StoreError.self) {
                    try await queues[0].turn { turn in
                        let claims = try await turn.dueJobs(now: Self.t0, limit: 10).map { try QueueStoreConformance.claimed($0, at: Self.t0) }
                        return try await turn.commit(claims, gate: nil, now: Self.t0)
                    }
                }
                #expect(try openTransactions(database) == "0")
                #expect(try database.psql("SELECT count(*) FROM cancellations WHERE state = 'sent'") == "0")
                #expect(try database.psql("SELECT count(*) FROM cancellation_attempts") == "0")
                try database.psql("DROP TRIGGER test_refuse_marks ON cancelq_daemons")

                // A turn's handle kept past its closure, and a turn begun inside another, are refused.
                let kept = try await queues[0].turn { $0 }
                await #expect(throws: StoreError.self) { _ = try await kept.dueJobs(now: Self.t0, limit: 10) }
                await #expect(throws: StoreError.self) {
                    try await queues[0].turn { _ in try await queues[0].turn { _ in () } }
                }
                #expect(try openTransactions(database) == "0")
                #expect(try await lockableByAnother(queues[1]) == 10)
            }
        }
    }
}
