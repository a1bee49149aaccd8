import CancelCore

/// What the run loop needs from a queue, whatever holds it (the SQLite driver, `CancelStore`, or
/// the PostgreSQL one, `CancelPostgres`). The loop talks to this protocol only, never to SQL. Async so that a networked store fits; the SQLite
/// store answers at once. `QueueStoreConformance` (tests) is the behaviour every store must show.
public protocol QueueStore: AnyObject {
    /// Where the queue lives, for messages (a path, or a URL without its password).
    var location: String { get }
    /// Write transactions committed (for the benchmark's commits per job).
    var writeTransactions: Int { get }

    /// Queues a cancellation, as an application's insert does; idempotent by order number.
    func enqueue(orderNumber: String, paidAt: Double?) async throws(StoreError) -> EnqueueResult
    /// Runs `body` as one turn: its reads and its commit in one transaction, which ends (committed,
    /// or rolled back when `body` did not commit or threw) before this returns.
    func turn<T>(_ body: (any QueueTurn) async throws -> T) async throws -> T
    /// When the next job awaiting a send becomes due.
    func nextDueTime() async throws(StoreError) -> Double?
    /// Whether any job is not final.
    func hasUnfinishedJobs() async throws(StoreError) -> Bool
    func loadGate() async throws(StoreError) -> SendingGate
    /// Jobs enqueued (by creation time, whatever their state now) from the window's start or the
    /// last approval, whichever is later (`limit.countingFrom`), counted up to `limit.countCap`;
    /// and where counting started. The approval is read in the same snapshot as the count.
    func enqueuedForSurge(now: Double, limit: SurgeLimit) async throws(StoreError) -> (enqueued: Int, countedFrom: Double)
    func saveGate(_ gate: SendingGate, now: Double) async throws(StoreError)
    /// Calls `onChange` when another process may have written the queue; nil when the store has
    /// no such notification here (the loop then checks every 0.2 s).
    func notifyChanges(_ onChange: @escaping @Sendable () -> Void) -> (any ChangeNotifications)?
    /// Tells, each turn and cheaply, whether another process committed since the last look.
    func makeChangeDetector() throws(StoreError) -> any ChangeDetector

    // Several daemons on one queue (PostgreSQL). A store with one daemon (SQLite, whose lock says
    // who runs) keeps the defaults below: no heartbeat, nothing to rescue from others.

    /// Records this daemon before its loop starts; refuses a live daemon of the same name.
    func join() async throws(StoreError)
    /// How often `beat` must be called; nil when no other daemon shares the queue.
    var heartbeatInterval: Double? { get }
    /// Tells the other daemons this one is alive, with how many requests it has in flight.
    func beat(inFlight: Int) async throws(StoreError)
    /// The daemon stops: nothing of it is in flight any more.
    func leave() async
}

extension QueueStore {
    public func join() async throws(StoreError) {}
    public var heartbeatInterval: Double? { nil }
    public func beat(inFlight: Int) async throws(StoreError) {}
    public func leave() async {}
}

/// A running change notification; `stop` ends it.
public protocol ChangeNotifications: AnyObject {
    /// On while the daemon is idle; off while it is busy (its own writes would wake it for nothing).
    func setWatching(_ on: Bool)
    func stop()
}

/// Whether other processes committed, asked once per turn of the loop.
public protocol ChangeDetector {
    /// Whether another process committed since the last look (the daemon's own commits are not
    /// "another process", however the driver tells them apart).
    mutating func noticed(now: Double) throws(StoreError) -> Bool
    /// A change seen but not yet confirmed as a commit: look again within 10 ms.
    var isUnconfirmed: Bool { get }
}

/// `enqueue`'s result: the job, and whether this call created it.
public struct EnqueueResult: Sendable, Equatable {
    public let record: JobRecord
    /// False when the order was already queued: the existing job is returned unchanged.
    public let created: Bool

    public init(record: JobRecord, created: Bool) {
        self.record = record
        self.created = created
    }
}
