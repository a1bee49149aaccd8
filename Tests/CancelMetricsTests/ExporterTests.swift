import CancelCore
import CancelMetrics
import CancelQueue
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
    /// While true, a read waits (a database that stopped answering).
    let hanging = Mutex(false)
    let daemons = Mutex<[DaemonPresence]>([])
    let mode: SendingGate.Mode

    init(mode: SendingGate.Mode = .open) { self.mode = mode }

    func snapshot(now: Double, startOfDay: Double, thresholds: HealthThresholds) async throws(StoreError) -> MonitoringSnapshot {
        reads.withLock { $0 += 1 }
        while hanging.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
        if failing.withLock({ $0 }) { throw .notMigrated(path: "/secret/path/queue.db") }
        let open = mode == .open
        let counts = Dictionary(uniqueKeysWithValues: State.allCases.map { ($0.rawValue, $0 == .succeeded ? 7 : 0) })
        let report = StatusReport(
            generatedAt: now, database: "/secret/path/queue.db", counts: counts, total: 7, unfinished: 0, oldestUnfinished: nil,
            nextDue: nil, overdueSeconds: 0, sending: StatusReport.Sending(mode: mode, since: open ? nil : now - 5, maintenanceStreak: 0),
            today: StatusReport.Today(since: startOfDay, succeeded: 7, failed: 0), recentFailures: [],
            health: StatusReport.Health(status: open ? .ok : .attention, reasons: open ? [] : ["sending \(mode.rawValue)"]))
        return MonitoringSnapshot(status: report, lastSuccessAt: now - 1, daemons: daemons.withLock { $0 })
    }
}

final class ManualClock: Sendable {
    let now = Mutex(1_000_000.0)
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
}

@Suite("metrics exporter")
struct ExporterTests {
    func exporter(_ source: ScriptedSource, _ clock: ManualClock, patience: Duration = .seconds(5)) -> MetricsExporter {
        MetricsExporter(source: source, logger: Logger(label: "test"), patience: patience, clock: { clock.now.withLock { $0 } })
    }

    @Test("a store that stops answering: scrapes answer within the patience with stale gauges, and wait on the one read in progress")
    func hangingStore() async throws {
        let source = ScriptedSource()
        let clock = ManualClock()
        let exporter = exporter(source, clock, patience: .milliseconds(200))
        var parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
        #expect(parsed.value("cancelq_store_read_ok") == 1)
        source.hanging.withLock { $0 = true }
        clock.advance(1)
        let started = ContinuousClock.now
        for _ in 0..<5 {
            parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
            #expect(parsed.value("cancelq_store_read_ok") == 0 && parsed.value("cancelq_healthy") == 0)
            let health = await exporter.health()
            #expect(!health.healthy && health.line.hasPrefix("UNKNOWN"))
            clock.advance(1)
        }
        #expect(ContinuousClock.now - started < .seconds(1), "the first scrape waited the patience, the next ones answered at once")
        #expect(source.reads.withLock { $0 } == 2, "one read in progress, however many scrapes")
        source.hanging.withLock { $0 = false }
        try await Task.sleep(for: .milliseconds(100))
        clock.advance(1)
        parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
        #expect(parsed.value("cancelq_store_read_ok") == 1 && parsed.value("cancelq_jobs", ["state": "succeeded"]) == 7)
    }

    @Test("cancelq_daemon_info: one series per daemon listed, 1 alive and 0 lost; a daemon no longer listed loses its series")
    func daemonSeriesFollowTheStore() async throws {
        let source = ScriptedSource()
        let clock = ManualClock()
        let exporter = exporter(source, clock)
        var parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
        #expect(parsed.samples(named: "cancelq_daemon_info").isEmpty, "a SQLite queue lists no daemons")
        source.daemons.withLock {
            $0 = [.init(node: "web-1", alive: true), .init(node: "web-2", alive: false), .init(node: "bad \"name\"\n}", alive: true)]
        }
        clock.advance(1)
        parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
        #expect(parsed.value("cancelq_daemon_info", ["node": "web-1"]) == 1)
        #expect(parsed.value("cancelq_daemon_info", ["node": "web-2"]) == 0)
        #expect(parsed.value("cancelq_daemon_info", ["node": "bad_\"name\"_}"]) == 1, "characters --node-name refuses are replaced")
        source.daemons.withLock { $0 = [.init(node: "web-2", alive: true)] }
        clock.advance(1)
        parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
        #expect(parsed.samples(named: "cancelq_daemon_info").map(\.labels) == [["node": "web-2"]])
        #expect(parsed.value("cancelq_daemon_info", ["node": "web-2"]) == 1)
        source.daemons.withLock { $0 = (0..<500).map { .init(node: "n\($0)", alive: $0 % 2 == 0) } }
        clock.advance(1)
        parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
        let series = parsed.samples(named: "cancelq_daemon_info")
        #expect(series.count == LabelValues.maximumDaemons && series.allSatisfy { $0.value == 0 }, "bounded, lost daemons first")
        // A reading that fails drops the series: a daemon cut off from the database does not keep saying it is alive.
        source.failing.withLock { $0 = true }
        clock.advance(1)
        parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
        #expect(parsed.samples(named: "cancelq_daemon_info").isEmpty && parsed.value("cancelq_store_read_ok") == 0)
    }

    @Test("a scrape flood reads the store at most once per interval")
    func readsAreBounded() async throws {
        let source = ScriptedSource()
        let clock = ManualClock()
        let exporter = exporter(source, clock)
        for _ in 0..<100 { _ = await exporter.scrape(); _ = await exporter.health() }
        #expect(source.reads.withLock { $0 } == 1)
        clock.advance(0.6)
        _ = await exporter.scrape()
        #expect(source.reads.withLock { $0 } == 2)
    }

    @Test("an unreadable store: store_read_ok and healthy go to 0, /healthz says UNKNOWN without the path, and it recovers")
    func unreadableStore() async throws {
        let source = ScriptedSource()
        let clock = ManualClock()
        let exporter = exporter(source, clock)
        var parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
        #expect(parsed.value("cancelq_store_read_ok") == 1 && parsed.value("cancelq_jobs", ["state": "succeeded"]) == 7)
        source.failing.withLock { $0 = true }
        clock.advance(1)
        let text = String(decoding: await exporter.scrape(), as: UTF8.self)
        parsed = try PrometheusExposition(parsing: text)
        #expect(parsed.value("cancelq_store_read_ok") == 0 && parsed.value("cancelq_healthy") == 0)
        let health = await exporter.health()
        #expect(!health.healthy && health.line.hasPrefix("UNKNOWN"))
        #expect(!health.line.contains("/secret") && !text.contains("/secret"))
        source.failing.withLock { $0 = false }
        clock.advance(1)
        parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
        let healthy = await exporter.health().healthy
        #expect(parsed.value("cancelq_store_read_ok") == 1 && healthy)
    }

    @Test("the sending mode has one series per case of SendingGate.Mode, 1 for the current one", arguments: SendingGate.Mode.allCases)
    func everyModeHasASeries(mode: SendingGate.Mode) async throws {
        let exporter = exporter(ScriptedSource(mode: mode), ManualClock())
        let parsed = try PrometheusExposition(parsing: String(decoding: await exporter.scrape(), as: UTF8.self))
        let series = parsed.samples(named: "cancelq_sending_mode")
        #expect(Set(series.compactMap { $0.labels["mode"] }) == Set(SendingGate.Mode.allCases.map(\.rawValue)))
        for sample in series { #expect(sample.value == (sample.labels["mode"] == mode.rawValue ? 1 : 0)) }
        #expect(parsed.value("cancelq_sending_mode_since_timestamp_seconds") == (mode == .open ? 0.0 : 999_995.0))
        let healthy = await exporter.health().healthy
        #expect(healthy == (mode == .open))
    }

    @Test("label values stay in fixed sets whatever the gateway answers")
    func labelsAreBounded() async throws {
        let exporter = exporter(ScriptedSource(), ManualClock())
        exporter.loop.answered(status: "success", code: "000")
        exporter.loop.answered(status: "invalid", code: "02130210")
        exporter.loop.answered(status: "ORDER-123\"}\n", code: "SECRET-KEY")
        for index in 0..<500 { exporter.loop.answered(status: "failure", code: "ORD-\(index)") }
        exporter.loop.transportFailed(.other("connect to 10.1.2.3 for ORDER-9 failed"))
        exporter.loop.transportFailed(.tls("certificate for ORDER-9"))
        let text = String(decoding: await exporter.scrape(), as: UTF8.self)
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
