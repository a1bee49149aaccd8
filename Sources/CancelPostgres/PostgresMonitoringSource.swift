import CancelCore
import CancelQueue
import Logging
import PostgresNIO

extension PostgresQueue {
    /// What a scrape shows, in one REPEATABLE READ snapshot: the status report, the last success,
    /// and the daemons registered on the queue, live or lost.
    public func monitoringSnapshot(now: Double, startOfDay: Double, thresholds: HealthThresholds) async throws(StoreError)
        -> MonitoringSnapshot
    {
        try await session.snapshot { () async throws(StoreError) -> MonitoringSnapshot in
            let status = try await buildReport(now: now, startOfDay: startOfDay, thresholds: thresholds)
            // From the (state, updated_at) index: one seek, whatever the table's size.
            let lastSuccess: Double? = try await session.rows(
                PostgresQuery(unsafeSQL: "SELECT max(updated_at) FROM cancellations WHERE state = \(State.succeeded.sql)")
            ).first?.value(0)
            // A lost daemon is shown until a daemon on its host starts after it (a restart under
            // another name replaced it) or its row is pruned.
            var daemons: [DaemonPresence] = []
            for row in try await session.rows(
                """
                SELECT d.node, d.heartbeat_at >= cancelq_now() - d.lease_seconds FROM cancelq_daemons d
                WHERE d.heartbeat_at >= cancelq_now() - d.lease_seconds
                   OR NOT EXISTS (SELECT 1 FROM cancelq_daemons r
                                  WHERE r.host = d.host AND r.node <> d.node AND r.started_at >= d.heartbeat_at
                                    AND r.heartbeat_at >= cancelq_now() - r.lease_seconds)
                ORDER BY d.node
                """)
            {
                daemons.append(DaemonPresence(node: try row.value(0), alive: try row.value(1)))
            }
            return MonitoringSnapshot(status: status, lastSuccessAt: lastSuccess, daemons: daemons)
        }
    }
}

/// Scrapes of a PostgreSQL queue: a connection of their own (never the run loop's, which holds
/// its claims' transaction across a turn), opened on first use and reconnected by the session
/// after an outage. Reads only, in read-only transactions. Called by one scrape at a time
/// (`MetricsExporter` reads through a single pending read).
public actor PostgresMonitoringSource: MonitoringSource {
    private let location: PostgresLocation
    private let node: String
    private let logger: Logger
    private var queue: PostgresQueue?

    /// `node`: the daemon's name, for the connection's log lines.
    public init(location: PostgresLocation, node: String, logger: Logger) {
        self.location = location
        self.node = node
        self.logger = logger
    }

    public func snapshot(now: Double, startOfDay: Double, thresholds: HealthThresholds) async throws(StoreError)
        -> MonitoringSnapshot
    {
        let open: PostgresQueue
        if let queue {
            open = queue
        } else {
            open = try await PostgresQueue.open(
                location: location, node: node, logger: logger, statementDeadline: PostgresQueue.daemonStatementDeadline)
            queue = open
        }
        return try await open.monitoringSnapshot(now: now, startOfDay: startOfDay, thresholds: thresholds)
    }

    public func close() async {
        await queue?.close()
        queue = nil
    }
}
