import CancelCore
import CancelMetrics
import CancelStore
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

/// A store whose reads can be made to fail, counting them.
final class ScriptedSource: MonitoringSource {
    let reads = Mutex(0)
    let failing = Mutex(false)
    let mode: SendingGate.Mode

    init(mode: SendingGate.Mode = .open) { self.mode = mode }

    func snapshot(now: Double, startOfDay: Double, thresholds: HealthThresholds) throws(StoreError) -> MonitoringSnapshot {
        reads.withLock { $0 += 1 }
        if failing.withLock({ $0 }) { throw .notMigrated(path: "/secret/path/queue.db") }
        let open = mode == .open
        let counts = Dictionary(uniqueKeysWithValues: State.allCases.map { ($0.rawValue, $0 == .succeeded ? 7 : 0) })
        let report = StatusReport(
            generatedAt: now, database: "/secret/path/queue.db", counts: counts, total: 7, unfinished: 0, oldestUnfinished: nil,
            nextDue: nil, overdueSeconds: 0, sending: StatusReport.Sending(mode: mode, since: open ? nil : now - 5, maintenanceStreak: 0),
            today: StatusReport.Today(since: startOfDay, succeeded: 7, failed: 0), recentFailures: [],
            health: StatusReport.Health(status: open ? .ok : .attention, reasons: open ? [] : ["sending \(mode.rawValue)"]))
        return MonitoringSnapshot(status: report, lastSuccessAt: now - 1)
    }
}

final class ManualClock: Sendable {
    let now = Mutex(1_000_000.0)
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
}

@Suite("metrics exporter")
struct ExporterTests {
    func exporter(_ source: ScriptedSource, _ clock: ManualClock) -> MetricsExporter {
        MetricsExporter(source: source, logger: Logger(label: "test"), clock: { clock.now.withLock { $0 } })
    }

    @Test("a scrape flood reads the store at most once per interval")
    func readsAreBounded() throws {
        let source = ScriptedSource()
        let clock = ManualClock()
        let exporter = exporter(source, clock)
        for _ in 0..<100 { _ = exporter.scrape(); _ = exporter.health() }
        #expect(source.reads.withLock { $0 } == 1)
        clock.advance(0.6)
        _ = exporter.scrape()
        #expect(source.reads.withLock { $0 } == 2)
    }

    @Test("an unreadable store: store_read_ok and healthy go to 0, /healthz says UNKNOWN without the path, and it recovers")
    func unreadableStore() throws {
        let source = ScriptedSource()
        let clock = ManualClock()
        let exporter = exporter(source, clock)
        var parsed = try PrometheusExposition(parsing: String(decoding: exporter.scrape(), as: UTF8.self))
        #expect(parsed.value("cancelq_store_read_ok") == 1 && parsed.value("cancelq_jobs", ["state": "succeeded"]) == 7)
        source.failing.withLock { $0 = true }
        clock.advance(1)
        let text = String(decoding: exporter.scrape(), as: UTF8.self)
        parsed = try PrometheusExposition(parsing: text)
        #expect(parsed.value("cancelq_store_read_ok") == 0 && parsed.value("cancelq_healthy") == 0)
        let health = exporter.health()
        #expect(!health.healthy && health.line.hasPrefix("UNKNOWN"))
        #expect(!health.line.contains("/secret") && !text.contains("/secret"))
        source.failing.withLock { $0 = false }
        clock.advance(1)
        parsed = try PrometheusExposition(parsing: String(decoding: exporter.scrape(), as: UTF8.self))
        #expect(parsed.value("cancelq_store_read_ok") == 1 && exporter.health().healthy)
    }

    @Test("the sending mode has one series per case of SendingGate.Mode, 1 for the current one", arguments: SendingGate.Mode.allCases)
    func everyModeHasASeries(mode: SendingGate.Mode) throws {
        let exporter = exporter(ScriptedSource(mode: mode), ManualClock())
        let parsed = try PrometheusExposition(parsing: String(decoding: exporter.scrape(), as: UTF8.self))
        let series = parsed.samples(named: "cancelq_sending_mode")
        #expect(Set(series.compactMap { $0.labels["mode"] }) == Set(SendingGate.Mode.allCases.map(\.rawValue)))
        for sample in series { #expect(sample.value == (sample.labels["mode"] == mode.rawValue ? 1 : 0)) }
        #expect(parsed.value("cancelq_sending_mode_since_timestamp_seconds") == (mode == .open ? 0.0 : 999_995.0))
        #expect(exporter.health().healthy == (mode == .open))
    }

    @Test("label values stay in fixed sets whatever the gateway answers")
    func labelsAreBounded() throws {
        let exporter = exporter(ScriptedSource(), ManualClock())
        exporter.loop.answered(status: "success", code: "000")
        exporter.loop.answered(status: "invalid", code: "02130210")
        exporter.loop.answered(status: "ORDER-123\"}\n", code: "SECRET-KEY")
        for index in 0..<500 { exporter.loop.answered(status: "failure", code: "ORD-\(index)") }
        exporter.loop.transportFailed(.other("connect to 10.1.2.3 for ORDER-9 failed"))
        exporter.loop.transportFailed(.tls("certificate for ORDER-9"))
        let text = String(decoding: exporter.scrape(), as: UTF8.self)
        let parsed = try PrometheusExposition(parsing: text)
        #expect(parsed.value("cancelq_requests_total", ["status": "success", "code": "000"]) == 1)
        #expect(parsed.value("cancelq_requests_total", ["status": "invalid", "code": "02130210"]) == 1)
        #expect(parsed.value("cancelq_requests_total", ["status": "other", "code": "other"]) == 1)
        #expect(parsed.value("cancelq_requests_total", ["status": "failure", "code": "other"]) == 500)
        #expect(parsed.samples(named: "cancelq_requests_total").count == 4)
        #expect(parsed.value("cancelq_transport_failures_total", ["kind": "other"]) == 1)
        #expect(parsed.value("cancelq_transport_failures_total", ["kind": "tls"]) == 1)
        for secret in ["ORDER", "SECRET", "ORD-", "10.1.2.3"] { #expect(!text.contains(secret)) }
    }
}
