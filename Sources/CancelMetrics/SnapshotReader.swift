import CancelQueue
import Logging

/// Reads the store for scrapes: at most one read at a time and at most one per `minimumInterval`,
/// however many scrapes arrive. A read that takes longer than `patience` answers the scrapes
/// waiting on it with an error (the gauges say they are stale) while it goes on; scrapes arriving
/// while it is overdue answer so at once, without starting another. So a flood of scrapes, or a
/// database that stopped answering, costs the queue at most one read in progress, and a probe
/// with a short timeout still gets its 503.
actor SnapshotReader {
    typealias Outcome = Result<MonitoringSnapshot, StoreError>

    struct Reading {
        let at: Double
        let outcome: Outcome
    }

    private let source: any MonitoringSource
    private let minimumInterval: Double
    private let patience: Duration
    private let logger: Logger
    private var last: Reading?
    private var pending: Task<Reading, Never>?
    /// Which read `pending` is: a read that ends clears only itself.
    private var generation = 0
    /// When the pending read started, and whether an overdue read was said since the last success.
    private var pendingSince = ContinuousClock.now
    private var overdueLogged = false

    init(source: any MonitoringSource, minimumInterval: Double, patience: Duration, logger: Logger) {
        self.source = source
        self.minimumInterval = minimumInterval
        self.patience = patience
        self.logger = logger
    }

    /// The latest reading, fresh within the interval; `fresh` is called once per new reading
    /// (before any scrape sees it) with the reading and the one before.
    func read(
        now: Double, startOfDay: Double, thresholds: HealthThresholds,
        fresh: @escaping @Sendable (Reading, Reading?) -> Void
    ) async -> Outcome {
        if let last, pending == nil, now - last.at < minimumInterval, now >= last.at { return last.outcome }
        let task: Task<Reading, Never>
        if let pending {
            let waited = ContinuousClock.now - pendingSince
            if waited >= patience { return overdue() }
            task = pending
            guard let reading = await value(of: task, within: patience - waited) else { return overdue() }
            return reading.outcome
        } else {
            let source = source
            let previous = last
            generation += 1
            let made = generation
            task = Task {
                let outcome: Outcome
                do throws(StoreError) {
                    outcome = .success(try await source.snapshot(now: now, startOfDay: startOfDay, thresholds: thresholds))
                } catch {
                    outcome = .failure(error)
                }
                let reading = Reading(at: now, outcome: outcome)
                fresh(reading, previous)
                // Before the value is out: whoever awaits it next finds the read no longer pending.
                await self.finished(reading, generation: made)
                return reading
            }
            pending = task
            pendingSince = .now
        }
        guard let reading = await value(of: task, within: patience) else { return overdue() }
        return reading.outcome
    }

    private func overdue() -> Outcome {
        if !overdueLogged {
            overdueLogged = true
            logger.warning(
                "metrics: the queue has not answered a read for \(patience); scrapes show the last values with cancelq_store_read_ok 0 until it does")
        }
        return .failure(.unavailable(location: "the queue", reason: "no answer within \(patience) to the metrics' read"))
    }

    private func finished(_ reading: Reading, generation finished: Int) {
        last = reading
        if generation == finished { pending = nil }
        // Said once per outage: again only after the queue has answered.
        if case .success = reading.outcome { overdueLogged = false }
    }
}
