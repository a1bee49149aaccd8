import CancelCore
import CancelQueue
import CoreMetrics
import Synchronization

/// The gauges read from the store at scrape time: right after a restart, and the same numbers
/// `cancelq status` shows.
final class StoreGauges: Sendable {
    private let jobs: [State: Meter]
    /// One series per mode the gate knows: a mode added to `SendingGate.Mode` appears by itself.
    private let modes: [SendingGate.Mode: Meter]
    private let oldestAge: Meter
    private let overdue: Meter
    private let lastSuccess: Meter
    private let modeSince: Meter
    private let healthy: Meter
    private let readable: Meter
    private let factory: any MetricsFactory
    /// `cancelq_daemon_info{node}`, one per daemon the last reading listed: a node that left has no series.
    private let daemons = Mutex<[String: Meter]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
        func meter(_ metric: MetricCatalog.Metric, _ dimensions: [(String, String)] = []) -> Meter {
            Meter(label: metric.name, dimensions: dimensions, factory: factory)
        }
        jobs = Dictionary(uniqueKeysWithValues: State.allCases.map { ($0, meter(MetricCatalog.jobs, [("state", $0.rawValue)])) })
        modes = Dictionary(
            uniqueKeysWithValues: SendingGate.Mode.allCases.map { ($0, meter(MetricCatalog.sendingMode, [("mode", $0.rawValue)])) })
        oldestAge = meter(MetricCatalog.oldestUnfinishedAge)
        overdue = meter(MetricCatalog.nextDueOverdue)
        lastSuccess = meter(MetricCatalog.lastSuccess)
        modeSince = meter(MetricCatalog.sendingSince)
        healthy = meter(MetricCatalog.healthy)
        readable = meter(MetricCatalog.storeReadable)
    }

    func apply(_ snapshot: MonitoringSnapshot) {
        let status = snapshot.status
        for (state, meter) in jobs { meter.set(status.counts[state.rawValue] ?? 0) }
        for (mode, meter) in modes { meter.set(mode == status.sending.mode ? 1 : 0) }
        oldestAge.set(max(0, status.oldestUnfinished?.ageSeconds ?? 0))
        overdue.set(status.overdueSeconds)
        lastSuccess.set(snapshot.lastSuccessAt ?? 0)
        modeSince.set(status.sending.mode == .open ? 0 : status.sending.since ?? 0)
        healthy.set(status.health.status == .ok ? 1 : 0)
        readable.set(1)
        applyDaemons(snapshot.daemons)
    }

    private func applyDaemons(_ presences: [DaemonPresence]) {
        // Lost daemons first (the alert needs them), then by name; a name shown twice after
        // cleaning keeps its lost entry.
        var shown: [String: Bool] = [:]
        for presence in presences.sorted(by: { ($0.alive ? 1 : 0, $0.node) < ($1.alive ? 1 : 0, $1.node) }) {
            let node = LabelValues.node(presence.node)
            if shown[node] == nil, shown.count < LabelValues.maximumDaemons { shown[node] = presence.alive }
        }
        daemons.withLock { meters in
            let listed = Set(shown.keys)
            for (node, meter) in meters where !listed.contains(node) {
                meter.destroy()
                meters[node] = nil
            }
            for (node, alive) in shown {
                let meter = meters[node] ?? Meter(label: MetricCatalog.daemonInfo.name, dimensions: [("node", node)], factory: factory)
                meters[node] = meter
                meter.set(alive ? 1 : 0)
            }
        }
    }

    /// The store could not be read: the other gauges keep their last values, and say so. The
    /// daemons' series go: a daemon cut off from the database must not keep saying it is alive
    /// (the others, which can read, show it lost).
    func unreadable() {
        healthy.set(0)
        readable.set(0)
        applyDaemons([])
    }
}
