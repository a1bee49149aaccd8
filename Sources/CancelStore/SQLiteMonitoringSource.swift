import CancelQueue
import CancelCore
import SQLite
import Synchronization

extension CancelStore {
    /// The status report and the last success, in one read snapshot.
    public func monitoringSnapshot(now: Double, startOfDay: Double, thresholds: HealthThresholds) throws(StoreError)
        -> MonitoringSnapshot
    {
        let status = try statusReport(now: now, startOfDay: startOfDay, thresholds: thresholds)
        // From the (state, updated_at) index: one seek, whatever the table's size.
        let lastSuccess = try storeErrors {
            try connection.queryOne(
                "SELECT max(updated_at) FROM cancellations WHERE state = \(State.succeeded.sql)", []
            ) { $0.optionalDouble(0) } ?? nil
        }
        return MonitoringSnapshot(status: status, lastSuccessAt: lastSuccess)
    }
}

/// Scrapes of a SQLite queue: a read-only connection of its own, opened on first use and reopened
/// after an error (the file may have been restored meanwhile). Read-only WAL readers never take
/// the write lock, so a scrape neither waits for the daemon's commits nor delays them.
public final class SQLiteMonitoringSource: MonitoringSource {
    private let path: String
    private let connection = Mutex<CancelStore?>(nil)

    public init(path: String) { self.path = path }

    public func snapshot(now: Double, startOfDay: Double, thresholds: HealthThresholds) async throws(StoreError)
        -> MonitoringSnapshot
    {
        try connection.withLock { (store: inout CancelStore?) throws(StoreError) -> MonitoringSnapshot in
            do throws(StoreError) {
                let open: CancelStore
                if let store { open = store } else { open = try CancelStore.openReadOnly(path: path) }
                store = open
                return try open.monitoringSnapshot(now: now, startOfDay: startOfDay, thresholds: thresholds)
            } catch {
                store = nil
                throw error
            }
        }
    }
}
