import CancelCore
import Testing
import TestSupport

let t0 = 1_700_000_000.0

/// Un-jittered defaults: exact times in the scripts.
let exactPolicy = try! RetryPolicy(jitter: 0)

/// A job and the daemon's gate, driven event by event like the daemon does.
struct Script {
    var job: CancellationJob
    var gate: SendingGate = .open
    var policy: RetryPolicy
    var random: SeededGenerator

    init(order: String = "ORDER-1", paidAt: Double? = t0, policy: RetryPolicy = exactPolicy, seed: UInt64 = 1) {
        job = CancellationJob(orderNumber: order, paidAt: paidAt, enqueuedAt: t0)
        self.policy = policy
        random = SeededGenerator(seed: seed)
    }

    /// Handles `event` and performs the gate part of the decision, as the daemon does.
    @discardableResult
    mutating func on(_ event: JobEvent, at now: Double) throws(ImpossibleEvent) -> Decision {
        let decision = try job.handle(event, gate: gate, policy: policy, now: now, random: &random)
        if let changed = decision.gate { gate = changed }
        return decision
    }

    /// Drives a fresh job to `sent` at its due time.
    mutating func sendFirst() throws -> Double {
        try on(.discovered, at: t0)
        let due = try #require(job.dueAt)
        try on(.due, at: due)
        return due
    }
}

