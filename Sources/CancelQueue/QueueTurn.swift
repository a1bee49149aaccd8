import CancelCore

/// One unit of the daemon's work on the queue: the reads it decides on and the one commit of what
/// it decided. `QueueStore.turn` opens it and always ends it when its closure returns or throws,
/// so no transaction (and no row lock) outlives the call that made it.
///
/// On a shared queue the reads lock the rows they return against the other daemons (skipping rows
/// another daemon holds) until `commit`; so two daemons never decide about the same job at once.
/// A commit that failed ends the transaction with it: a commit tried again in the same turn runs
/// in a new one, its writes still guarded by state and owner.
public protocol QueueTurn {
    /// New rows (`pending`), oldest first.
    func newJobs(limit: Int) async throws(StoreError) -> [JobRecord]
    /// Jobs awaiting a send whose due time has come, earliest first.
    func dueJobs(now: Double, limit: Int) async throws(StoreError) -> [JobRecord]
    /// Jobs a previous run left in flight: their outcome is unknown.
    func interruptedJobs() async throws(StoreError) -> [JobRecord]
    /// Jobs in flight in daemons that stopped heartbeating (never this one's): outcome unknown.
    /// Always empty on a queue with one daemon.
    func abandonedJobs() async throws(StoreError) -> [JobRecord]
    /// Answers, new states, claims (with their attempt rows) and the gate in ONE commit. A job
    /// another writer changed meanwhile is skipped alone and reported; its answer is still kept.
    func commit(_ writes: [JobWrite], gate: SendingGate?, now: Double) async throws(StoreError) -> [TamperedWrite]
}
