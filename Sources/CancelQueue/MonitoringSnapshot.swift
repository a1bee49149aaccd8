import CancelCore

/// What `/metrics` and `/healthz` read from a store at scrape time: the status report (so every
/// gauge is right after a restart and agrees with `cancelq status`) and what the report lacks.
/// A networked store adds its per-daemon facts here (`daemons`), so the metrics module needs no
/// change to export them.
public struct MonitoringSnapshot: Sendable, Equatable {
    public var status: StatusReport
    /// When the most recent job became `succeeded` (unix seconds); nil when none has.
    public var lastSuccessAt: Double?
    /// The daemons registered on a shared queue, live or lost; empty on SQLite (one daemon per file).
    public var daemons: [DaemonPresence]

    public init(status: StatusReport, lastSuccessAt: Double?, daemons: [DaemonPresence] = []) {
        self.status = status
        self.lastSuccessAt = lastSuccessAt
        self.daemons = daemons
    }
}

/// One daemon registered on a shared queue (PostgreSQL), for `cancelq_daemon_info{node}`.
public struct DaemonPresence: Sendable, Equatable {
    public var node: String
    /// Heartbeating within its lease. A daemon that stops cleanly removes its row; one that is
    /// killed, crashes or loses the database stays registered, not alive, until its row is pruned.
    public var alive: Bool

    public init(node: String, alive: Bool) {
        self.node = node
        self.alive = alive
    }
}

/// Reads snapshots for the metrics listener. Implementations use their own connection, never the
/// run loop's: a scrape must not wait behind the loop, block it, or write.
public protocol MonitoringSource: Sendable {
    func snapshot(now: Double, startOfDay: Double, thresholds: HealthThresholds) async throws(StoreError) -> MonitoringSnapshot
}
