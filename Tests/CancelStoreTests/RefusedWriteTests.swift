import CancelCore
import CancelQueue
import QueueStoreConformance
import SQLite
import Testing
import TestSupport

@testable import CancelStore

/// A write the schema refuses (a trigger an application added) is set aside alone on SQLite, as
/// on PostgreSQL (`PostgresTurnWriteTests`): the others land, the refusal is named, and nothing of
/// the refused job is written.
@Suite("SQLite: a refused write")
struct RefusedWriteTests {
    static let t0 = QueueStoreConformance.t0

    @Test("a claim a trigger refuses is set aside alone, named; the turn's other claims land")
    func refusedClaimIsSetAside() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            for order in ["R-1", "R-2", "R-3"] { _ = try store.enqueueNow(orderNumber: order, paidAt: Self.t0 - 60) }
            _ = try await store.commit(
                try await store.newJobs(limit: 10).map { try QueueStoreConformance.discovered($0, due: Self.t0 - 50) }, gate: nil, now: Self.t0)
            try Connection(path: dir + "/q.db").execute(
                """
                CREATE TRIGGER test_refuse_r2 BEFORE UPDATE ON cancellations WHEN OLD.order_number = 'R-2'
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                """)
            let claims = try await store.dueJobs(now: Self.t0, limit: 10).map { try QueueStoreConformance.claimed($0, at: Self.t0) }
            #expect(claims.count == 3)
            let tampered = try await store.commit(claims, gate: nil, now: Self.t0)
            #expect(tampered.map(\.orderNumber) == ["R-2"] && tampered[0].isClaim && !tampered[0].jobUpdated, "\(tampered)")
            #expect(tampered.first?.refusal?.contains("refused by the test") == true, "\(tampered)")
            let reader = try Connection(path: dir + "/q.db", options: .reader)
            #expect(
                try reader.query("SELECT order_number || ' ' || state FROM cancellations ORDER BY id") { $0.string(0) }
                    == ["R-1 sent", "R-2 waiting-delay", "R-3 sent"])
            #expect(
                try reader.query("SELECT c.order_number FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id ORDER BY c.id") {
                    $0.string(0)
                } == ["R-1", "R-3"], "the refused claim opened no attempt: its request never leaves")
        }
    }
}
