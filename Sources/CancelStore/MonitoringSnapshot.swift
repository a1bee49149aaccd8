import CancelCore

/// What `/metrics` and `/healthz` read from a store at scrape time: the status report (so every
/// gauge is right after a restart and agrees with `cancelq status`) and what the report lacks.
/// A networked store adds its per-daemon facts here (`daemons`), so the metrics module needs no
/// change to export them.
public struct MonitoringSnapshot: Sendable, Equatable {
    public var status: StatusReport
    /// When the most recent job became `succeeded` (unix seconds); nil when none has.
    public var lastSuccessAt: Double?
    /// The daemons sharing the queue, one entry each; empty on SQLite (one daemon per file).
    public var daemons: [DaemonPresence]

    public init(status: StatusReport, lastSuccessAt: Double?, daemons: [DaemonPresence] = []) {
        self.status = status
        self.lastSuccessAt = lastSuccessAt
        self.daemons = daemons
    }
}

/// One live daemon of a shared queue, for `cancelq_daemon_info{node}` (PostgreSQL).
public struct DaemonPresence: Sendable, Equatable {
    public var node: String
    public var inFlight: Int
    /// Jobs this daemon took over from daemons whose lease had expired, since it started.
    public var rescuedJobs: Int

    public init(node: String, inFlight: Int, rescuedJobs: Int) {
        self.node = node
        self.inFlight = inFlight
        self.rescuedJobs = rescuedJobs
    }
}

/// Reads snapshots for the metrics listener. Implementations use their own connection, never the
/// run loop's: a scrape must not wait behind the loop, block it, or write.
public protocol MonitoringSource: Sendable {
    func snapshot(now: Double, startOfDay: Double, thresholds: HealthThresholds) throws(StoreError) -> MonitoringSnapshot
}
