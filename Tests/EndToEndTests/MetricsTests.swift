import CancelCore
import CancelMetrics
import Foundation
import GatewaySimulator
import SQLite
import TestSupport
import Testing

@Suite("--metrics-listen: scraped as Prometheus would, compared with the database")
struct MetricsTests {
    @Test("a scrape parses as Prometheus text and every number agrees with the database and cancelq status")
    func scrapeMatchesDatabase() async throws {
        try await DaemonHarness.withHarness { harness in
            try await harness.migrate()
            let daemon = try await MetricsDaemon.start(harness, ["--max-attempts", "2"])
            harness.state.addFault(.answer(status: "failure", code: "02189999"), times: 10, order: "MET-REFUSED")
            harness.state.addFault(.answer(status: "invalid", code: "02999999"), times: 10, order: "MET-ODD")
            harness.state.addFault(.cut, times: 1, order: "MET-CUT")
            let finishing = ["MET-1", "MET-2", "MET-3", "MET-4", "MET-REFUSED", "MET-ODD", "MET-CUT"]
            try harness.enqueue(finishing)
            try harness.enqueue(["MET-LATER"], paidAgo: 0)  // waits its delay: one unfinished job
            #expect(try await harness.waitForFinalStates(finishing.count, timeout: 20))

            // The store gauges are read at most every 0.5 s: poll until the scrape has caught up.
            var scraped = try daemon.scrape()
            let states = try harness.grouped("SELECT state, count(*) FROM cancellations GROUP BY state")
            try await eventually(timeout: 3) {
                scraped = try daemon.scrape()
                return State.allCases.allSatisfy {
                    scraped.parsed.value("cancelq_jobs", ["state": $0.rawValue]) == Double(states[[$0.rawValue]] ?? 0)
                }
            }
            let metrics = scraped.parsed
            for state in State.allCases {
                #expect(metrics.value("cancelq_jobs", ["state": state.rawValue]) == Double(states[[state.rawValue]] ?? 0), "\(state)")
            }
            #expect(metrics.samples(named: "cancelq_jobs").count == State.allCases.count)

            // The same numbers as `cancelq status --json`, as an operator would compare them.
            let status = try await runCancelq(["status", "--db", harness.database, "--json"])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
            let counts = try #require(json["counts"] as? [String: Int])
            for (state, count) in counts { #expect(metrics.value("cancelq_jobs", ["state": state]) == Double(count), "\(state)") }
            let mode = try #require((json["sending"] as? [String: Any])?["mode"] as? String)

            // Every mode the gate knows has a series; exactly the current one is 1.
            #expect(Set(metrics.samples(named: "cancelq_sending_mode").compactMap { $0.labels["mode"] })
                == Set(SendingGate.Mode.allCases.map(\.rawValue)))
            for gateMode in SendingGate.Mode.allCases {
                #expect(metrics.value("cancelq_sending_mode", ["mode": gateMode.rawValue]) == (gateMode.rawValue == mode ? 1 : 0))
            }

            // Counters of this run: outcomes, answers by status and code, failures, durations.
            let outcomes = try harness.grouped("SELECT outcome, count(*) FROM cancellations WHERE outcome IS NOT NULL GROUP BY outcome")
            for outcome in Outcome.allCases {
                #expect(metrics.value("cancelq_outcomes_total", ["outcome": outcome.rawValue]) == Double(outcomes[[outcome.rawValue]] ?? 0), "\(outcome)")
            }
            // MET-CUT's first answer was lost: its resend answered "already cancelled".
            #expect(outcomes[["cancelled"]] == 4 && outcomes[["already-cancelled"]] == 1)
            #expect(outcomes[["gave-up"]] == 1 && outcomes[["unrecognised-answer"]] == 1)
            // The code label holds only codes of the code table: 02999999 is counted as other.
            let rawAnswers = try harness.grouped(
                "SELECT result_status, result_code, count(*) FROM cancellation_attempts WHERE result_status IS NOT NULL GROUP BY 1, 2",
                keys: 2)
            let answers = Dictionary(
                rawAnswers.map { ([$0.key[0], CodeTable.meaning(of: $0.key[1]) == nil ? "other" : $0.key[1]], $0.value) }, uniquingKeysWith: +)
            #expect(rawAnswers[["invalid", "02999999"]] == 2 && answers[["invalid", "other"]] == 2)
            #expect(!scraped.text.contains("02999999"))
            let requestSamples = metrics.samples(named: "cancelq_requests_total")
            #expect(requestSamples.count == answers.count)  // success/000 exists from the start, and was answered here
            for (key, count) in answers {
                #expect(metrics.value("cancelq_requests_total", ["status": key[0], "code": key[1]]) == Double(count), "\(key)")
            }
            let failures = try #require(try harness.reader().queryOne(
                "SELECT count(*) FROM cancellation_attempts WHERE result_status IS NULL AND completed_at IS NOT NULL") { $0.int(0) })
            #expect(failures >= 1)
            #expect(metrics.samples(named: "cancelq_transport_failures_total").map(\.value).reduce(0, +) == Double(failures))
            #expect(metrics.value("cancelq_request_duration_seconds_count") == Double(answers.values.reduce(0, +) + failures))
            #expect(metrics.value("cancelq_in_flight") == 0)

            let lastSuccess = try #require(try harness.reader().queryOne(
                "SELECT max(updated_at) FROM cancellations WHERE state = 'succeeded'") { $0.double(0) })
            #expect(abs((metrics.value("cancelq_last_success_timestamp_seconds") ?? 0) - lastSuccess) < 0.001)
            let later = try #require(try harness.reader().queryOne(
                "SELECT created_at FROM cancellations WHERE order_number = 'MET-LATER'") { $0.double(0) })
            let age = try #require(metrics.value("cancelq_oldest_unfinished_age_seconds"))
            #expect(age > 0 && abs(age - (Date().timeIntervalSince1970 - later)) < 2)
            #expect(metrics.value("cancelq_next_due_overdue_seconds") == 0)
            #expect(metrics.value("cancelq_store_read_ok") == 1)

            // Exactly the catalogue's metrics (but those of a shared queue), each with its help; no
            // order, key or path in the text.
            let sqliteMetrics = MetricCatalog.all.filter { !MetricCatalog.sharedQueueOnly.contains($0.name) }
            #expect(Set(metrics.families.keys) == Set(sqliteMetrics.map(\.name)))
            for metric in sqliteMetrics { #expect(metrics.families[metric.name]?.help == metric.help, "\(metric.name)") }
            for secret in finishing + ["MET-LATER", DaemonHarness.key, harness.directory] {
                #expect(!scraped.text.contains(secret), "\(secret) in the scrape")
            }
            if let promtool = try promtoolCheckMetrics(scraped.text, directory: harness.directory) {
                #expect(promtool.status == 0, "promtool check metrics: \(promtool.output)")
            }
            daemon.process.signal(SIGTERM)
            #expect(await daemon.process.waitForExit(timeout: 10) == 0)
        }
    }

    @Test("a daemon killed with a request in flight: its restart counts the job it takes up again in cancelq_rescued_jobs_total")
    func restartCountsRecoveredJobs() async throws {
        try await DaemonHarness.withHarness { harness in
            try await harness.migrate()
            harness.state.addFault(.hang, order: "MET-KILLED")
            try harness.enqueue(["MET-KILLED"])
            let first = try await MetricsDaemon.start(harness)
            #expect(await eventually(timeout: 10) { harness.state.requests.count == 1 }, "the request left")
            first.process.signal(SIGKILL)
            _ = await first.process.waitForExit(timeout: 5)
            let second = try await MetricsDaemon.start(harness)
            #expect(try await harness.waitForFinalStates(1, timeout: 20))
            let recovered = try harness.grouped(
                "SELECT 'unknown', count(*) FROM cancellation_attempts WHERE error LIKE 'outcome unknown%'")[["unknown"]] ?? 0
            #expect(recovered == 1)
            #expect(try second.scrape().parsed.value("cancelq_rescued_jobs_total") == Double(recovered))
            second.process.signal(SIGTERM)
            #expect(await second.process.waitForExit(timeout: 10) == 0)
        }
    }

    @Test("/healthz answers 200 with status --check's line, and 503 with the reason once the simulator rejects the key")
    func healthFollowsStatusCheck() async throws {
        try await DaemonHarness.withHarness(daemonKey: "WRONG-KEY-7") { harness in
            try await harness.migrate()
            let daemon = try await MetricsDaemon.start(harness)
            let healthy = try daemon.health()
            let check = try await runCancelq(["status", "--db", harness.database, "--check"])
            #expect(check.status == 0)
            #expect(healthy.status == 200)
            #expect(healthy.body == check.stdout)

            try harness.enqueue(["HEALTH-1"])
            #expect(await daemon.process.waitForOutput("SENDING HALTED", timeout: 15))
            var unhealthy = try daemon.health()
            try await eventually(timeout: 3) {
                unhealthy = try daemon.health()
                return unhealthy.status == 503
            }
            let attention = try await runCancelq(["status", "--db", harness.database, "--check"])
            #expect(attention.status == 1)
            #expect(unhealthy.status == 503)
            #expect(unhealthy.body == attention.stdout)
            #expect(unhealthy.body.contains("sending halted") && unhealthy.body.contains("02130210"))
            let metrics = try daemon.scrape()
            #expect(metrics.parsed.value("cancelq_sending_mode", ["mode": "halted"]) == 1)
            #expect(metrics.parsed.value("cancelq_healthy") == 0)
            #expect(metrics.parsed.value("cancelq_requests_total", ["status": "invalid", "code": "02130210"]) == 1)
            for text in [unhealthy.body, metrics.text] {
                #expect(!text.contains("WRONG-KEY-7") && !text.contains("HEALTH-1") && !text.contains(harness.directory))
            }
        }
    }

    @Test("a non-loopback, malformed or busy --metrics-listen is refused with one line")
    func listenAddressRefused() async throws {
        try await DaemonHarness.withHarness { harness in
            for address in ["0.0.0.0:9464", "192.0.2.10:9464", "[::]:9464", "127.0.0.1", "127.0.0.1:70000", "localhost:x", "::1:9464", ":9464"] {
                let result = try await runCancelq(harness.runArguments(["--metrics-listen", address]))
                #expect(result.status != 0, "\(address)")
                #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("--metrics-listen \(address)"), "\(result.stderr)")
                #expect(!FileManager.default.fileExists(atPath: harness.database), "refused before the database is touched")
            }
            let fromEnvironment = try await runCancelq(harness.runArguments(), environment: ["CANCELQ_METRICS_LISTEN": "0.0.0.0:9464"])
            #expect(fromEnvironment.status != 0 && fromEnvironment.stderr.contains("not a loopback address"))
            let emptyEnvironment = try await runCancelq(harness.runArguments(), environment: ["CANCELQ_METRICS_LISTEN": ""])
            #expect(emptyEnvironment.status != 0 && emptyEnvironment.stderr.contains("CANCELQ_METRICS_LISTEN is set but empty"))

            // The flag lifts the loopback rule; binding an address of no interface here then fails
            // (and nothing listens on a public interface during the test).
            let remote = try await runCancelq(harness.runArguments(["--metrics-listen", "192.0.2.10:0", "--metrics-allow-remote"]))
            #expect(remote.status != 0 && remote.stderr.contains("cannot listen") && !remote.stderr.contains("not a loopback"))

            let held = try HeldPort()
            let busy = try await runCancelq(harness.runArguments(["--metrics-listen", "127.0.0.1:\(held.port)"]))
            #expect(busy.status != 0 && busy.stderr.contains("cannot listen"), "\(busy.stderr)")
            #expect(harness.state.requests.isEmpty, "no request left")
        }
    }

    @Test("the listener refuses other methods, paths, bodies and huge heads, never echoes them, and a slow or trickling client blocks nothing")
    func listenerWithstandsMisuse() async throws {
        try await DaemonHarness.withHarness { harness in
            try await harness.migrate()
            try harness.enqueue(["ECHO-ORDER-1"])
            let daemon = try await MetricsDaemon.start(harness)
            let port = daemon.port

            let post = try loopbackHTTP(port: port, method: "POST", path: "/metrics")
            #expect(post.status == 405 && post.headers.contains("Allow: GET"))
            let delete = try loopbackHTTP(port: port, method: "DELETE", path: "/healthz")
            #expect(delete.status == 405)
            for path in ["/../../etc/passwd", "/metrics/../healthz", "/ECHO-ORDER-1", "/%2e%2e/metrics", "/metricsx", "/"] {
                let answer = try loopbackHTTP(port: port, path: path)
                #expect(answer.status == 404, "\(path)")
                #expect(!answer.body.contains("passwd") && !answer.body.contains("ECHO") && !answer.body.contains("%2e"), "\(path)")
            }
            let withBody = try loopbackHTTP(port: port, path: "/metrics", body: "ECHO-ORDER-1")
            #expect(withBody.status == 413 && !withBody.body.contains("ECHO"))

            // A head past the budget: 431 and the connection closed, however much more is sent.
            let huge = try LoopbackConnection(port: port)
            huge.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + String(repeating: "a", count: 64 * 1024) + "\r\n\r\n")
            let hugeAnswer = huge.receive(timeout: 5)
            #expect(hugeAnswer.closed)
            #expect(String(decoding: hugeAnswer.bytes, as: UTF8.self).hasPrefix("HTTP/1.1 431"))

            // A client that sends half a request holds nothing up, and is let go after the idle timeout.
            let slow = try LoopbackConnection(port: port)
            slow.send("GET /metr")
            let started = Date()
            #expect(try daemon.scrape().parsed.value("cancelq_store_read_ok") == 1)
            #expect(try daemon.health().status == 200)
            #expect(Date().timeIntervalSince(started) < 2)
            // It trickles a byte every 3 s, which keeps the idle timer from firing: it is cut all the
            // same, 10 s after the request's first byte, so a few such clients cannot hold every slot.
            var closedAfter: Double?
            for _ in 0..<8 {
                try await Task.sleep(nanoseconds: 3_000_000_000)
                let answer = slow.receive(timeout: 0.1)
                if answer.closed {
                    #expect(answer.bytes.isEmpty)
                    closedAfter = Date().timeIntervalSince(started)
                    break
                }
                _ = slow.send("i")
            }
            #expect(closedAfter.map { (9...14).contains($0) } == true, "closed after \(closedAfter ?? -1) s")

            // A crowd past the cap, trickling half a request (a byte a second, never completing), once
            // kept every probe out for up to 10 s: each newcomer now closes the member that waited
            // longest, so probes are answered at once.
            let crowd = try TricklingCrowd(port: port, size: MetricsServer.maximumConnections + 8)
            try await crowd.trickle(for: 1.5)
            for path in ["/healthz", "/metrics", "/healthz"] {
                let probed = Date()
                #expect(try loopbackHTTP(port: port, path: path, timeout: 3).status == 200, "\(path)")
                #expect(Date().timeIntervalSince(probed) < 1, "\(path)")
                try crowd.trickle()
            }
            #expect(crowd.closedByServer >= 8)

            // Keep-alive: two scrapes on one connection, as Prometheus does.
            let kept = try LoopbackConnection(port: port)
            kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            let keptAnswer = kept.receive(timeout: 1)
            #expect(String(decoding: keptAnswer.bytes, as: UTF8.self).components(separatedBy: "HTTP/1.1 200 OK").count == 3)
            #expect(daemon.process.isRunning)
        }
    }

    @Test("without --metrics-listen the daemon listens on no port; with it, on exactly the one it logged")
    func offListensNowhere() async throws {
        try await DaemonHarness.withHarness { harness in
            try await harness.migrate()
            let plain = try harness.startDaemon()
            #expect(await plain.waitForOutput("cancelq started", timeout: 15))
            #expect(try listeningPorts(pid: plain.pid).isEmpty)
            #expect(!plain.output.contains("metrics"))
            plain.signal(SIGTERM)
            #expect(await plain.waitForExit(timeout: 10) == 0)

            let daemon = try await MetricsDaemon.start(harness)
            #expect(try listeningPorts(pid: daemon.process.pid) == [daemon.port])
            // The port opens before the service starts; SIGTERM is handled gracefully once it has.
            #expect(await daemon.process.waitForOutput("cancelq started", timeout: 15))
            daemon.process.signal(SIGTERM)
            #expect(await daemon.process.waitForExit(timeout: 10) == 0, "\(daemon.process.output.suffix(1500))")
            // The port is closed with the daemon.
            #expect(throws: (any Error).self) { try LoopbackConnection(port: daemon.port) }
        }
    }
}
