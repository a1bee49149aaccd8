import CancelCore
import CancelQueue

/// For tests: each read or commit as a turn of its own. Its locks end with the call, as every
/// turn's do; a test of what a turn holds between its read and its commit uses `turn` itself.
extension QueueStore {
    public func newJobs(limit: Int) async throws -> [JobRecord] { try await turn { try await $0.newJobs(limit: limit) } }
    public func dueJobs(now: Double, limit: Int) async throws -> [JobRecord] {
        try await turn { try await $0.dueJobs(now: now, limit: limit) }
    }
    public func interruptedJobs() async throws -> [JobRecord] { try await turn { try await $0.interruptedJobs() } }
    public func abandonedJobs() async throws -> [JobRecord] { try await turn { try await $0.abandonedJobs() } }
    public func commit(_ writes: [JobWrite], gate: SendingGate?, now: Double) async throws -> [TamperedWrite] {
        try await turn { try await $0.commit(writes, gate: gate, now: now) }
    }
}
