import CancelCore
import CancelQueue
import Foundation
import Testing

extension QueueStoreConformance {
    /// An application's withdrawal racing the daemon's claim of the same due job, on any store:
    /// exactly one wins. Either the withdrawal lands first (the claim finds the job withdrawn and
    /// opens no attempt) or the claim does (the withdrawal is refused as too late and the job is
    /// in flight with its attempt row). `withdraw` runs the application's SQL from another
    /// connection and returns whether it was accepted; it may wait for the claim's locks.
    public static func aWithdrawalRacingAClaimHasOneWinner(
        _ store: any QueueStore, withdraw: @escaping @Sendable (String) async throws -> Bool
    ) async throws {
        _ = try await store.enqueue(orderNumber: "RACE-1", paidAt: t0 - 60)
        _ = try await store.commit(try await store.newJobs(limit: 10).map { try discovered($0, due: t0 - 50) }, gate: nil, now: t0)
        // One turn: the claim's read and its commit, with the withdrawal arriving in between.
        let (tampered, withdrawn) = try await store.turn { turn in
            let claim = try claimed(try await turn.dueJobs(now: t0, limit: 10)[0], at: t0)
            let withdrawal = Task.detached { try await withdraw("RACE-1") }
            // Let the withdrawal reach the database (and, where the claim's read locked the row, wait there).
            try await Task.sleep(for: .milliseconds(300))
            let tampered = try await turn.commit([claim], gate: nil, now: t0)
            return (tampered, try await withdrawal.value)
        }
        if withdrawn {
            #expect(tampered.count == 1 && tampered[0].isClaim && !tampered[0].jobUpdated && tampered[0].found == "withdrawn", "\(tampered)")
            #expect(try await store.hasUnfinishedJobs() == false, "the withdrawn job is final")
            #expect(try await store.interruptedJobs().isEmpty, "a withdrawn job was claimed")
        } else {
            #expect(tampered.isEmpty, "the claim won, so it was applied: \(tampered)")
            #expect(try await store.interruptedJobs().map { "\($0.orderNumber) \($0.state.rawValue)" } == ["RACE-1 sent"], "the claim that won is in flight")
        }
    }
}
