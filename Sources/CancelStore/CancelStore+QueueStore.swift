import CancelCore
import CancelQueue
import Foundation
import SQLite

extension CancelStore: QueueStore {
    public var location: String { path }

    public func enqueue(orderNumber: String, paidAt: Double?) async throws(StoreError) -> EnqueueResult {
        try enqueueNow(orderNumber: orderNumber, paidAt: paidAt)
    }

    /// One daemon per file (its lock says which): reads need no row locks, and the commit is one
    /// write transaction of its own, so nothing stays open between the calls of a turn.
    public func turn<T>(_ body: (any QueueTurn) async throws -> T) async throws -> T { try await body(SQLiteTurn(store: self)) }

    public func nextDueTime() async throws(StoreError) -> Double? { try nextDueTimeNow() }
    public func hasUnfinishedJobs() async throws(StoreError) -> Bool { try hasUnfinishedJobsNow() }
    public func loadGate() async throws(StoreError) -> SendingGate { try loadGateNow() }
    public func saveGate(_ gate: SendingGate, now: Double) async throws(StoreError) { try saveGateNow(gate, now: now) }
    public func enqueuedForSurge(now: Double, limit: SurgeLimit) async throws(StoreError) -> (enqueued: Int, countedFrom: Double) {
        try enqueuedForSurgeNow(now: now, limit: limit)
    }

    public func notifyChanges(_ onChange: @escaping @Sendable () -> Void) -> (any ChangeNotifications)? {
        ChangeWatcher.start(databasePath: path, onChange: onChange)
    }

    public func makeChangeDetector() throws(StoreError) -> any ChangeDetector { try SQLiteChangeDetector(store: self) }
}

/// A turn on SQLite: the store's own reads, and its batch commit.
struct SQLiteTurn: QueueTurn {
    let store: CancelStore

    func newJobs(limit: Int) async throws(StoreError) -> [JobRecord] { try store.pendingJobs(limit: limit) }
    func dueJobs(now: Double, limit: Int) async throws(StoreError) -> [JobRecord] { try store.dueJobsNow(now: now, limit: limit) }
    func interruptedJobs() async throws(StoreError) -> [JobRecord] { try store.inFlightJobs() }
    func abandonedJobs() async throws(StoreError) -> [JobRecord] { [] }
    func commit(_ writes: [JobWrite], gate: SendingGate?, now: Double) async throws(StoreError) -> [TamperedWrite] {
        try await store.apply(writes, gate: gate, now: now)
    }
}
