import CancelCore
import CancelMetrics
import Foundation
import TestSupport
import Testing

/// `--metrics-listen` on daemons sharing a PostgreSQL queue: every daemon's scrape shows the
/// queue as `cancelq status` does, and the daemons registered on it.
@Suite("PostgreSQL metrics", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresMetricsTests {
    typealias Rig = PostgresDaemonTests.Rig

    static func startScraped(_ rig: Rig, _ node: String) async throws -> MetricsDaemon {
        try await MetricsDaemon.attach(try rig.startDaemon(node, ["--metrics-listen", "127.0.0.1:0"]))
    }

    /// Polls `daemon`'s scrape (the store is read at most twice a second) until `condition` holds.
    static func scrape(
        _ daemon: MetricsDaemon, timeout: Double = 10, until condition: (PrometheusExposition) throws -> Bool
    ) async throws -> PrometheusExposition {
        var last = try daemon.scrape().parsed
        _ = try await eventually(timeout: timeout) {
            last = try daemon.scrape().parsed
            return try condition(last)
        }
        return last
    }

    @Test("two daemons scraped: jobs, mode and successes match the database; a killed daemon shows 0 and the survivor counts what it rescued")
    func sharedQueueScrape() async throws {
        try await PostgresDaemonTests.withRig(latency: 0.2) { rig in
            let orders = (1...160).map { "PM-\($0)" }
            try rig.enqueue(orders)
            let d1 = try await Self.startScraped(rig, "pm-1")
            let d2 = try await Self.startScraped(rig, "pm-2")
            var parsed = try await Self.scrape(d1) { $0.value("cancelq_daemon_info", ["node": "pm-2"]) == 1 }
            #expect(parsed.value("cancelq_daemon_info", ["node": "pm-1"]) == 1 && parsed.value("cancelq_daemon_info", ["node": "pm-2"]) == 1)
            #expect(Set(parsed.families.keys) == Set(MetricCatalog.all.map(\.name)), "a PostgreSQL daemon exports the whole catalogue")

            // pm-2 killed with requests in flight: its row stays, its lease runs out (2 s + 10 s).
            #expect(await eventually(timeout: 20) { (try? rig.finished()) ?? 0 >= 20 })
            d2.process.signal(SIGKILL)
            _ = await d2.process.waitForExit(timeout: 5)
            #expect(await eventually(timeout: 60) { (try? rig.finished()) == orders.count }, "\(d1.process.output.suffix(2000))")
            let rescuedRows = Int(try rig.psql("SELECT count(*) FROM cancellation_attempts WHERE error LIKE 'outcome unknown: its daemon pm-2 %'")) ?? -1
            parsed = try await Self.scrape(d1) {
                $0.value("cancelq_daemon_info", ["node": "pm-2"]) == 0
                    && $0.value("cancelq_jobs", ["state": "succeeded"]) == Double(orders.count)
            }
            #expect(parsed.value("cancelq_daemon_info", ["node": "pm-2"]) == 0, "lost, not left")
            #expect(parsed.value("cancelq_daemon_info", ["node": "pm-1"]) == 1)
            #expect(rescuedRows >= 1 && parsed.value("cancelq_rescued_jobs_total") == Double(rescuedRows), "rescue rows: \(rescuedRows)")

            // The numbers `cancelq status` shows, from the same database.
            let status = try await runCancelq(["status", "--db", rig.url, "--json"])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
            let counts = try #require(json["counts"] as? [String: Int])
            for state in State.allCases {
                #expect(parsed.value("cancelq_jobs", ["state": state.rawValue]) == Double(counts[state.rawValue] ?? -1), "\(state)")
            }
            let mode = try #require((json["sending"] as? [String: Any])?["mode"] as? String)
            #expect(parsed.value("cancelq_sending_mode", ["mode": mode]) == 1)
            let lastSuccess = Double(try rig.psql("SELECT max(updated_at) FROM cancellations WHERE state = 'succeeded'")) ?? -1
            #expect(abs((parsed.value("cancelq_last_success_timestamp_seconds") ?? 0) - lastSuccess) < 0.001)
            let health = try d1.health()
            #expect(health.status == 200 && health.body.hasPrefix("OK"), "\(health.body)")
            #expect(try !d1.scrape().text.contains("PM-"), "no order number in a scrape")

            // A daemon started since on the same host replaces the lost one: its series goes.
            let d3 = try await Self.startScraped(rig, "pm-3")
            parsed = try await Self.scrape(d3) { $0.value("cancelq_daemon_info", ["node": "pm-2"]) == nil }
            #expect(parsed.value("cancelq_daemon_info", ["node": "pm-2"]) == nil)
            #expect(parsed.value("cancelq_daemon_info", ["node": "pm-3"]) == 1 && parsed.value("cancelq_daemon_info", ["node": "pm-1"]) == 1)
            #expect(parsed.value("cancelq_rescued_jobs_total") == 0, "pm-3 rescued nothing")

            // A clean stop leaves: no series, no alert.
            d3.process.signal(SIGTERM)
            #expect(await d3.process.waitForExit(timeout: 10) == 0)
            parsed = try await Self.scrape(d1) { $0.value("cancelq_daemon_info", ["node": "pm-3"]) == nil }
            #expect(parsed.value("cancelq_daemon_info", ["node": "pm-3"]) == nil)
            d1.process.signal(SIGTERM)
            #expect(await d1.process.waitForExit(timeout: 10) == 0, "\(d1.process.output.suffix(2000))")
        }
    }

    @Test("a daemon refused for a busy metrics port leaves the queue's daemons as they were, the one of its name included")
    func busyPortTouchesNoDaemon() async throws {
        try await PostgresDaemonTests.withRig { rig in
            let first = try await Self.startScraped(rig, "same-name")
            let port = first.port
            // The listener may answer before the daemon's row is committed (join follows it).
            #expect(await eventually(timeout: 10) { (try? rig.psql("SELECT count(*) FROM cancelq_daemons WHERE node = 'same-name'")) == "1" })
            let refused = try rig.startDaemon("same-name", ["--metrics-listen", "127.0.0.1:\(port)"])
            #expect(await refused.waitForExit(timeout: 15) != 0)
            #expect(refused.output.contains("cannot listen"), "\(refused.output)")
            #expect(try rig.psql("SELECT count(*) FROM cancelq_daemons WHERE node = 'same-name'") == "1", "the first daemon's row was removed")
            first.process.signal(SIGTERM)
            #expect(await first.process.waitForExit(timeout: 10) == 0)
        }
    }

    @Test("PostgreSQL stopped under a scraped daemon: /healthz says UNKNOWN and read_ok 0 within seconds, both recover when it is back")
    func scrapeThroughAnOutage() async throws {
        try await PostgresDaemonTests.withRig { rig in
            try rig.enqueue(["PO-1"])
            let daemon = try await Self.startScraped(rig, "po-1")
            _ = try await Self.scrape(daemon) { $0.value("cancelq_jobs", ["state": "succeeded"]) == 1 }
            rig.server.stop(fast: true)
            defer { try? rig.server.start() }
            let started = Date()
            let down = try await Self.scrape(daemon, timeout: 15) { $0.value("cancelq_store_read_ok") == 0 }
            #expect(down.value("cancelq_store_read_ok") == 0 && down.value("cancelq_healthy") == 0)
            #expect(Date().timeIntervalSince(started) < 12, "noticed within the patience, not after a connect timeout")
            let health = try daemon.health()
            #expect(health.status == 503 && health.body.hasPrefix("UNKNOWN"), "\(health.body)")
            #expect(!health.body.contains(rig.url) && !health.body.contains("127.0.0.1"))
            try rig.server.start()
            let up = try await Self.scrape(daemon, timeout: 20) { $0.value("cancelq_store_read_ok") == 1 }
            #expect(up.value("cancelq_store_read_ok") == 1 && up.value("cancelq_jobs", ["state": "succeeded"]) == 1)
            #expect(daemon.process.output.contains("metrics: cannot read the queue"), "the outage was logged once")
            daemon.process.signal(SIGTERM)
            #expect(await daemon.process.waitForExit(timeout: 15) == 0, "\(daemon.process.output.suffix(2000))")
        }
    }
}
