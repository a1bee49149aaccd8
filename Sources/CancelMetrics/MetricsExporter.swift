import CancelQueue
import Foundation
import Logging
import Prometheus

/// `--metrics-listen`: the registry behind `/metrics`, the run loop's counters, and the store's
/// gauges and health verdict behind `/metrics` and `/healthz`.
///
/// The store is read at scrape time through a `MonitoringSource` (its own read-only connection),
/// by a `SnapshotReader`: however often it is scraped, a scrape costs the queue at most a few
/// reads a second, and a database that stopped answering delays a scrape by at most `patience`.
public final class MetricsExporter: Sendable {
    public let loop: RunLoopMetrics
    private let registry = PrometheusCollectorRegistry()
    private let gauges: StoreGauges
    private let reader: SnapshotReader
    private let thresholds: HealthThresholds
    private let logger: Logger
    private let clock: @Sendable () -> Double

    /// What `/healthz` answers: `status --check`'s verdict and its one line.
    public struct Health: Sendable, Equatable {
        public let healthy: Bool
        public let line: String
    }

    /// `patience`: how long a scrape waits for the store before it answers with stale gauges
    /// (`cancelq_store_read_ok 0`); below Prometheus's default scrape timeout of 10 s.
    public init(
        source: any MonitoringSource, logger: Logger, thresholds: HealthThresholds = .init(),
        minimumReadInterval: Double = 0.5, patience: Duration = .seconds(5),
        clock: @escaping @Sendable () -> Double = QueueClock.now
    ) {
        let factory = HelpfulPrometheusFactory(registry: registry)
        loop = RunLoopMetrics(factory: factory)
        gauges = StoreGauges(factory: factory)
        reader = SnapshotReader(source: source, minimumInterval: minimumReadInterval, patience: patience, logger: logger)
        self.thresholds = thresholds
        self.logger = logger
        self.clock = clock
    }

    /// The Prometheus text exposition of every metric, the store's read now (or within the interval).
    public func scrape() async -> [UInt8] {
        if case .failure = await read() { gauges.unreadable() }
        return registry.emitToBuffer()
    }

    public func health() async -> Health {
        switch await read() {
        case .success(let snapshot):
            return Health(healthy: snapshot.status.health.status == .ok, line: snapshot.status.checkLine)
        case .failure:
            // The error names the database: it goes to the journal, not to the network.
            return Health(healthy: false, line: "UNKNOWN - cannot read the queue (the daemon's journal says why)")
        }
    }

    private func read() async -> Result<MonitoringSnapshot, StoreError> {
        let now = clock()
        let startOfDay = Calendar.current.startOfDay(for: Date(timeIntervalSince1970: now)).timeIntervalSince1970
        let (gauges, logger) = (gauges, logger)
        return await reader.read(now: now, startOfDay: startOfDay, thresholds: thresholds) { reading, previous in
            let wasFailing = previous.map { if case .failure = $0.outcome { true } else { false } } ?? false
            switch reading.outcome {
            case .success(let snapshot):
                gauges.apply(snapshot)
                if wasFailing { logger.notice("metrics: the queue is readable again") }
            case .failure(let error):
                gauges.unreadable()
                if !wasFailing { logger.error("metrics: cannot read the queue for a scrape: \(error)") }
            }
        }
    }
}
