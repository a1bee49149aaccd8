import CancelCore
import Foundation
import QueueStoreConformance
import SQLite
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

/// Issue 18, point 1 (the contract, /work/withdraw-rule.md): a job whose earlier request may have
/// reached the gateway cannot be withdrawn; it goes on until the gateway answers. Only a refused
/// connection or the daemon's own "not sent" (the request never left), or a definite answer, leaves it
/// withdrawable.
@Suite("Withdrawal too late: outcome unknown")
struct WithdrawOutcomeUnknownTests {
    struct Ending: Sendable, CustomTestStringConvertible {
        let name: String
        let event: JobEvent
        let result: AttemptResult
        let withdrawable: Bool
        var testDescription: String { name }
    }

    static let endings: [Ending] = [
        Ending(
            name: "a restart's recovery", event: .recoveredAfterCrash,
            result: AttemptResult(error: "outcome unknown after restart", counted: true), withdrawable: false),
        Ending(
            name: "a rescue by another daemon", event: .recoveredAfterCrash,
            result: AttemptResult(error: "outcome unknown: its daemon b@host stopped heartbeating; rescued", counted: true),
            withdrawable: false),
        Ending(
            name: "a timeout", event: .transportFailed(.timeout),
            result: AttemptResult(error: "no answer before the request timeout", counted: true), withdrawable: false),
        Ending(
            name: "an HTTP 502", event: .transportFailed(.httpStatus(502)),
            result: AttemptResult(httpStatus: 502, error: "HTTP status 502 instead of 200", counted: true), withdrawable: false),
        Ending(
            name: "a refused connection", event: .transportFailed(.connectionRefused),
            result: AttemptResult(error: "connection refused", counted: true), withdrawable: true),
        Ending(
            name: "a claim confirmed past its send deadline, never sent", event: .transportFailed(.notSent("the claim was confirmed after its send deadline")),
            result: AttemptResult(error: TransportFailure.notSent("the claim was confirmed after its send deadline").description, counted: false),
            withdrawable: true),
        Ending(
            name: "a definite failure answer", event: .answered(.failure("02189999")),
            result: AttemptResult(httpStatus: 200, status: "failure", code: "02189999", counted: true), withdrawable: true),
    ]

    /// Order W claimed, then its attempt completed with `ending`: the job waits to be sent again.
    func afterAttempt(_ endings: [Ending], _ body: (CancelStore, String) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            let now = QueueClock.now()
            _ = try store.enqueueNow(orderNumber: "W", paidAt: now - 60)
            try await store.apply(try store.pendingJobs(limit: 1).map { try QueueStoreConformance.discovered($0, due: now - 50) }, now: now)
            for (index, ending) in endings.enumerated() {
                // Each claim after the previous retry's wait (30 min at most).
                let now = now + Double(index) * 3600
                let claim = try QueueStoreConformance.claimed(try #require(try store.job(orderNumber: "W")), at: now)
                #expect(try await store.apply([claim], now: now).isEmpty)
                var record = claim.record
                var random = SystemRandomNumberGenerator()
                _ = try record.job.handle(ending.event, gate: .open, policy: try RetryPolicy(jitter: 0), now: now, random: &random)
                let end = JobWrite(
                    expectedState: .sent, record: record, attempt: .complete(number: record.requestCount, at: now, result: ending.result))
                #expect(try await store.apply([end], now: now).isEmpty)
                #expect(record.job.state.isFinal == false && record.job.state != .sent, "\(ending.name): \(record.job.state)")
            }
            try await body(store, dir + "/q.db")
        }
    }

    @Test("an application's withdrawal after the attempt: refused with the named error when its outcome is unknown", arguments: endings)
    func applicationWithdrawal(_ ending: Ending) async throws {
        try await afterAttempt([ending]) { store, path in
            let before = try #require(try store.job(orderNumber: "W")).state
            let insert = { try Connection(path: path).run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('W', 'mistake')") }
            if ending.withdrawable {
                _ = try insert()
                #expect(try store.job(orderNumber: "W")?.state == .withdrawn)
            } else {
                let error = #expect(throws: SQLiteError.self) { try insert() }
                #expect(
                    error?.message
                        == "withdrawal_too_late_outcome_unknown: an earlier request for this order may have reached the gateway (no definite answer came back); the job goes on until the gateway answers; nothing was withdrawn")
                #expect(try store.job(orderNumber: "W")?.state == before, "the job goes on")
                #expect(try store.connection.queryOne("SELECT count(*) FROM cancellation_withdrawals") { $0.int(0) } == 0)
            }
        }
    }

    @Test("cancelq withdraw gives the same answer, and records no operator action when refused", arguments: endings)
    func operatorWithdrawal(_ ending: Ending) async throws {
        try await afterAttempt([ending]) { store, _ in
            let result = try await store.withdraw(orderNumbers: ["W"], reason: nil, by: "alice")
            if ending.withdrawable {
                #expect(result == [.withdrawn(orderNumber: "W", previousState: try #require(result.first.flatMap(Self.previous)))])
            } else {
                #expect(result == [.refused(orderNumber: "W", reason: WithdrawalRefusal.outcomeUnknown.description)])
                #expect(try store.connection.queryOne("SELECT count(*) FROM operator_actions") { $0.int(0) } == 0)
            }
        }
    }

    @Test("one unknown outcome among definite answers is enough to refuse, whichever came last")
    func anyUnknownAttemptRefuses() async throws {
        let refused = Self.endings[4], failure = Self.endings[6], timeout = Self.endings[2]
        try await afterAttempt([refused, timeout, failure]) { store, _ in
            let result = try await store.withdraw(orderNumbers: ["W"], reason: nil)
            #expect(result == [.refused(orderNumber: "W", reason: WithdrawalRefusal.outcomeUnknown.description)])
        }
        try await afterAttempt([refused, failure, refused]) { store, _ in
            let result = try await store.withdraw(orderNumbers: ["W"], reason: nil)
            #expect(result.first.flatMap(Self.previous) != nil, "\(result)")
        }
    }

    static func previous(_ result: WithdrawResult) -> State? {
        if case .withdrawn(_, let state) = result { return state }
        return nil
    }
}
