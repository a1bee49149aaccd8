import Foundation
import CancelCore
import CoreMetrics
import Synchronization

/// What the run loop counts: answers, transport failures, outcomes, request durations and the
/// requests in flight, through swift-metrics. Counts are of this daemon since it started, as
/// Prometheus expects of counters; what must survive a restart is read from the store instead
/// (`StoreGauges`).
public final class RunLoopMetrics: Sendable {
    private let factory: any MetricsFactory
    private let transportFailures: [String: CoreMetrics.Counter]
    private let outcomes: [Outcome: CoreMetrics.Counter]
    private let duration: CoreMetrics.Timer
    private let inFlightMeter: Meter
    private let rescued: CoreMetrics.Counter
    private let started: Meter
    /// Answers by (status, code): created on first use, at most 5 × 23 series.
    private let requests = Mutex<[Pair: CoreMetrics.Counter]>([:])

    private struct Pair: Hashable {
        let status: String
        let code: String
    }

    init(factory: any MetricsFactory) {
        self.factory = factory
        transportFailures = Dictionary(
            uniqueKeysWithValues: LabelValues.kinds.map {
                ($0, CoreMetrics.Counter(label: MetricCatalog.transportFailures.name, dimensions: [("kind", $0)], factory: factory))
            })
        outcomes = Dictionary(
            uniqueKeysWithValues: Outcome.allCases.map {
                ($0, CoreMetrics.Counter(label: MetricCatalog.outcomes.name, dimensions: [("outcome", $0.rawValue)], factory: factory))
            })
        duration = CoreMetrics.Timer(label: MetricCatalog.requestDuration.name, dimensions: [], factory: factory)
        inFlightMeter = Meter(label: MetricCatalog.inFlight.name, dimensions: [], factory: factory)
        rescued = CoreMetrics.Counter(label: MetricCatalog.rescuedJobs.name, dimensions: [], factory: factory)
        started = Meter(label: MetricCatalog.startTime.name, dimensions: [], factory: factory)
        started.set(Date().timeIntervalSince1970)
        // The family exists from the first scrape (and a first success is an increase from 0):
        // the usual answer's series, at 0.
        _ = counter(Pair(status: "success", code: "000"))
    }

    /// An answer came back (any status, any code).
    public func answered(status: String, code: String) {
        counter(Pair(status: LabelValues.status(status), code: LabelValues.code(code))).increment()
    }

    private func counter(_ pair: Pair) -> CoreMetrics.Counter {
        requests.withLock { counters in
            if let existing = counters[pair] { return existing }
            let made = CoreMetrics.Counter(
                label: MetricCatalog.requests.name, dimensions: [("status", pair.status), ("code", pair.code)], factory: factory)
            counters[pair] = made
            return made
        }
    }

    public func transportFailed(_ failure: TransportFailure) {
        transportFailures[LabelValues.kind(failure)]?.increment()
    }

    /// A job became final with this outcome.
    public func finished(_ outcome: Outcome) {
        outcomes[outcome]?.increment()
    }

    /// A job left in flight, its outcome unknown, was taken up again: after this daemon's own
    /// crash, or from a daemon of the shared queue that stopped heartbeating.
    public func rescuedJob() {
        rescued.increment()
    }

    public func requestTook(_ elapsed: Duration) {
        duration.recordNanoseconds(elapsed.nanoseconds)
    }

    public func inFlight(_ count: Int) {
        inFlightMeter.set(count)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
