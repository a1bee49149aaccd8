import Foundation
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

@Suite("Enqueue")
struct EnqueueTests {
    @Test("the same order again returns the existing job and its state instead of an error")
    func idempotent() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true, now: 100)
            let first = try store.enqueueNow(orderNumber: "ORDER-1", paidAt: 50)
            #expect(first.created)
            // As the daemon records it: the gateway's confirmation first, then the state.
            try store.connection.run(
                "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status, result_status, result_code, counted) VALUES (?, 1, 60, 61, 200, 'success', '000', 0)",
                first.record.id)
            try store.connection.run("UPDATE cancellations SET state = 'succeeded', outcome = 'cancelled'")
            let again = try store.enqueueNow(orderNumber: "ORDER-1", paidAt: 99)
            #expect(!again.created)
            #expect(again.record.id == first.record.id)
            #expect(again.record.state == .succeeded)
            #expect(again.record.job.paidAt == 50, "a second enqueue must not rewrite the first one's data")
        }
    }

    @Test("a malformed order number is refused before it reaches the database", arguments: ["", "a b", "ｚｅｎｋａｋｕ"])
    func validation(_ order: String) async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            let error = #expect(throws: StoreError.self) { try store.enqueueNow(orderNumber: order, paidAt: nil) }
            guard case .invalidOrderNumber = error else {
                Issue.record("expected invalidOrderNumber, got \(String(describing: error))")
                return
            }
            #expect(try store.connection.queryOne("SELECT count(*) FROM cancellations") { $0.int(0) } == 0)
        }
    }

    @Test("a negative or infinite paid-at is refused")
    func paidAtValidation() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            #expect(throws: StoreError.invalidPaidAt(-1)) { try store.enqueueNow(orderNumber: "A", paidAt: -1) }
            #expect(throws: StoreError.self) { try store.enqueueNow(orderNumber: "A", paidAt: .infinity) }
        }
    }

    @Test("the store's connection is WAL, synchronous=FULL, with a bounded WAL file")
    func durabilitySettings() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            #expect(try store.connection.queryOne("PRAGMA journal_mode") { $0.string(0) } == "wal")
            #expect(try store.connection.queryOne("PRAGMA synchronous") { $0.int(0) } == 2)
            #expect(try store.connection.queryOne("PRAGMA journal_size_limit") { $0.int(0) } == 64 << 20)
        }
    }

    @Test("a read-only open of a missing file is an error and creates nothing")
    func readOnlyMissing() async {
        await withTemporaryDirectory { dir in
            #expect(throws: StoreError.databaseMissing(path: dir + "/none.db")) {
                try CancelStore.openReadOnly(path: dir + "/none.db")
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/none.db"))
        }
    }
}
