import CancelDaemon
import CancelPostgres
import CancelQueue
import CancelStore
import Logging

/// `cancelq run`'s queue: the store the loop drives, and what comes with it on each driver.
struct DaemonQueue {
    let store: any QueueStore
    /// The SQLite files' guard (their lock and replacement check); nil on PostgreSQL.
    let storageGuard: (any StorageGuard)?
    /// Due times and leases run on this clock: the database server's on PostgreSQL.
    let clock: @Sendable () -> Double
    /// A read-only source of its own for the metrics listener, and how to close it.
    let makeMonitoringSource: () -> (source: any MonitoringSource, close: () async -> Void)
    /// Closes what was opened when the daemon does not start.
    let close: () async -> Void
    /// Held for as long as the daemon runs (the SQLite file lock).
    let keepAlive: AnyObject?
    /// For the journal: how the daemon shares the queue, if it does.
    let sharing: String?
}

extension QueueFactory {
    /// Opens the queue for the daemon: the SQLite file locked against a second daemon, or the
    /// PostgreSQL queue joined as `node`; either refused when its schema is not fully cancelq's.
    func openForDaemon(node: String, busyTimeout: Double, requestTimeout: Double, logger: Logger) async throws -> DaemonQueue {
        switch target {
        case .sqlite(let path):
            let lock = try DatabaseLock.acquire(database: path)
            let store = try CancelStore.open(path: lock.realPath, busyTimeout: busyTimeout)
            // The audit trail's triggers and the insert guard are part of the contract: no start without them.
            let problems = try store.schemaProblems()
            guard problems.isEmpty else { throw StoreError.schemaDamaged(path: path, problems: problems.map(\.description)) }
            return DaemonQueue(
                store: store, storageGuard: DatabaseFilesGuard(lock: lock), clock: QueueClock.now,
                makeMonitoringSource: { (SQLiteMonitoringSource(path: lock.realPath), {}) }, close: {}, keepAlive: lock, sharing: nil)
        case .postgres(let location):
            let queue = try await PostgresQueue.open(
                location: location, node: node, requestTimeout: requestTimeout, logger: logger,
                statementDeadline: PostgresQueue.daemonStatementDeadline)
            let problems = try await queue.schemaProblems()
            guard problems.isEmpty else {
                await queue.close()
                throw StoreError.schemaDamaged(path: location.description, problems: problems)
            }
            return DaemonQueue(
                store: queue, storageGuard: nil, clock: { queue.clock.now() },
                makeMonitoringSource: {
                    let source = PostgresMonitoringSource(location: location, node: node, logger: logger)
                    return (source, { await source.close() })
                },
                // Not `leave()`: this daemon has not joined, and a row of its name is another's.
                close: { await queue.close() }, keepAlive: nil, sharing: "sharing the queue at \(location) as \(node)")
        }
    }

    /// Whether several daemons can share this queue (and so need names).
    var isShared: Bool {
        if case .postgres = target { return true }
        return false
    }
}
