import CancelConsole
import CancelStore
import Foundation
import Logging
import Prometheus
import Synchronization

/// `--metrics-listen`: the registry behind `/metrics`, the run loop's counters, and the store's
/// gauges and health verdict behind `/metrics` and `/healthz`.
///
/// The store is read at scrape time through a `MonitoringSource` (its own read-only connection),
/// at most once per `minimumReadInterval`: however often it is scraped, a scrape costs the queue
/// at most a few reads a second.
public final class MetricsExporter: Sendable {
    public let loop: RunLoopMetrics
    private let registry = PrometheusCollectorRegistry()
    private let gauges: StoreGauges
    private let source: any MonitoringSource
    private let thresholds: HealthThresholds
    private let logger: Logger
    private let clock: @Sendable () -> Double
    private let minimumReadInterval: Double
    private let last = Mutex<Reading?>(nil)

    private struct Reading {
        let at: Double
        let result: Result<MonitoringSnapshot, StoreError>
    }

    /// What `/healthz` answers: `status --check`'s verdict and its one line.
    public struct Health: Sendable, Equatable {
        public let healthy: Bool
        public let line: String
    }

    public init(
        source: any MonitoringSource, logger: Logger, thresholds: HealthThresholds = .init(),
        minimumReadInterval: Double = 0.5, clock: @escaping @Sendable () -> Double = CancelStore.currentTime
    ) {
        let factory = HelpfulPrometheusFactory(registry: registry)
        loop = RunLoopMetrics(factory: factory)
        gauges = StoreGauges(factory: factory)
        self.source = source
        self.thresholds = thresholds
        self.logger = logger
        self.minimumReadInterval = minimumReadInterval
        self.clock = clock
    }

    /// The Prometheus text exposition of every metric, the store's read now (or within the interval).
    public func scrape() -> [UInt8] {
        _ = read()
        return registry.emitToBuffer()
    }

    public func health() -> Health {
        switch read() {
        case .success(let snapshot):
            return Health(healthy: snapshot.status.health.status == .ok, line: StatusText.checkLine(snapshot.status))
        case .failure:
            // The error names the database path: it goes to the journal, not to the network.
            return Health(healthy: false, line: "UNKNOWN - cannot read the queue (the daemon's journal says why)")
        }
    }

    private func read() -> Result<MonitoringSnapshot, StoreError> {
        last.withLock { last in
            let now = clock()
            if let last, now - last.at < minimumReadInterval, now >= last.at { return last.result }
            let startOfDay = Calendar.current.startOfDay(for: Date(timeIntervalSince1970: now)).timeIntervalSince1970
            let result = Result { () throws(StoreError) in
                try source.snapshot(now: now, startOfDay: startOfDay, thresholds: thresholds)
            }
            switch result {
            case .success(let snapshot):
                gauges.apply(snapshot)
                if case .failure = last?.result { logger.notice("metrics: the queue is readable again") }
            case .failure(let error):
                gauges.unreadable()
                if last.map({ if case .failure = $0.result { false } else { true } }) ?? true {
                    logger.error("metrics: cannot read the queue for a scrape: \(error)")
                }
            }
            last = Reading(at: now, result: result)
            return result
        }
    }
}
