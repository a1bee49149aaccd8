import CancelCore
import CancelQueue
import Foundation
import SQLite

extension CancelStore: QueueStore {
    public var location: String { path }

    public func enqueue(orderNumber: String, paidAt: Double?) async throws(StoreError) -> EnqueueResult {
        try enqueueNow(orderNumber: orderNumber, paidAt: paidAt)
    }

    public func newJobs(limit: Int) async throws(StoreError) -> [JobRecord] { try pendingJobs(limit: limit) }
    public func dueJobs(now: Double, limit: Int) async throws(StoreError) -> [JobRecord] { try dueJobsNow(now: now, limit: limit) }
    public func nextDueTime() async throws(StoreError) -> Double? { try nextDueTimeNow() }
    public func interruptedJobs() async throws(StoreError) -> [JobRecord] { try inFlightJobs() }
    public func hasUnfinishedJobs() async throws(StoreError) -> Bool { try hasUnfinishedJobsNow() }
    public func loadGate() async throws(StoreError) -> SendingGate { try loadGateNow() }
    public func saveGate(_ gate: SendingGate, now: Double) async throws(StoreError) { try saveGateNow(gate, now: now) }
    public func enqueuedForSurge(now: Double, limit: SurgeLimit) async throws(StoreError) -> (enqueued: Int, countedFrom: Double) {
        try enqueuedForSurgeNow(now: now, limit: limit)
    }

    public func commit(_ writes: [JobWrite], gate: SendingGate?, now: Double) async throws(StoreError) -> [TamperedWrite] {
        try await apply(writes, gate: gate, now: now)
    }

    public func notifyChanges(_ onChange: @escaping @Sendable () -> Void) -> (any ChangeNotifications)? {
        ChangeWatcher.start(databasePath: path, onChange: onChange)
    }

    public func makeChangeDetector() throws(StoreError) -> any ChangeDetector { try SQLiteChangeDetector(store: self) }
}
