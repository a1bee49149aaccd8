import CancelCore
import CancelStore
import CoreMetrics

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

    init(factory: any MetricsFactory) {
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
    }

    /// The store could not be read: the other gauges keep their last values, and say so.
    func unreadable() {
        healthy.set(0)
        readable.set(0)
    }
}
