import CancelQueue
import Foundation
import SQLite

/// `cancelq bench`: programs that print numbers, never pass/fail on timing.
public enum Benchmarks {
    /// Drains `jobs` queued jobs through a real `cancelq run` child at `concurrency`, with the
    /// production durability settings, against the simulator answering after `latency` seconds,
    /// or against `endpoint`: a server in another process (bench/nginx-success.conf), so that the
    /// daemon's CPU is measured as a user's machine would see it.
    public static func drain(
        jobs: Int, concurrency: Int, latency: Double, existing: Int, endpoint: String? = nil, scrapeEvery: Double? = nil,
        out: (String) -> Void
    ) async throws {
        try await BenchEnvironment.with(latency: latency) { environment in
        let gateway = endpoint.map { "\($0) (another process)" } ?? "the in-process simulator, latency \(Measurements.milliseconds(latency))"
        out("drain: \(jobs) jobs, concurrency \(concurrency), gateway \(gateway), "
            + "\(existing) finished jobs already in the table, synchronous=FULL"
            + (scrapeEvery.map { ", --metrics-listen scraped every \($0) s" } ?? ""))
        try environment.prefill(finished: existing)
        try environment.enqueue(jobs, prefix: "BENCH-", paidAt: Date().timeIntervalSince1970 - 60)
        let before = Measurements.childrenUsage()
        let started = Date()
        let daemon = try environment.startDaemon(
            concurrency: concurrency, exitWhenIdle: true, endpoint: endpoint, metrics: scrapeEvery != nil)
        let scraper = scrapeEvery.map { MetricsScraper(daemonLog: environment.daemonLog, interval: $0) }
        // Blocks one thread of the pool, as without --metrics; the scraper runs on the other.
        daemon.waitUntilExit()
        let wall = Date().timeIntervalSince(started)
        if let scraper {
            let (scrapes, failures) = await scraper.stop()
            out("  scrapes           \(scrapes) of /metrics while draining (\(failures) failed)")
        }
        let after = Measurements.childrenUsage()
        guard daemon.terminationStatus == 0 else {
            out("the daemon failed (\(daemon.terminationStatus)); log: \(environment.daemonLog)")
            return
        }
        let db = try Connection(path: environment.database, options: .reader)
        let window = try db.queryOne(
            """
            SELECT max(a.completed_at) - min(a.started_at) FROM cancellation_attempts a
            JOIN cancellations c ON c.id = a.cancellation_id WHERE c.order_number LIKE 'BENCH-%'
            """) { $0.double(0) } ?? wall
        let cpu = after.cpu - before.cpu
        let latencies = try environment.dueToSent(prefix: "BENCH-")
        out(String(format: "  throughput        %.0f jobs/s (first request to last answer: %.2f s; process %.2f s)",
                   Double(jobs) / window, window, wall))
        if let transactions = environment.daemonTransactions() {
            out(String(format: "  commits per job   %.3f (%d write transactions)", Double(transactions) / Double(jobs), transactions))
        }
        out(String(format: "  CPU per job       %.1f µs (daemon: %.2f s user+system)", cpu / Double(jobs) * 1e6, cpu))
        out(String(format: "  peak RSS          %.1f MiB", after.peakRSS))
        out("  due→sent          p50 \(Measurements.milliseconds(Measurements.percentile(latencies, 50)))"
            + ", p99 \(Measurements.milliseconds(Measurements.percentile(latencies, 99)))"
            + "  (all due at once: this is queueing behind the backlog)")
        if latency > 0 {
            let ideal = Double(concurrency) / latency
            out(String(format: "  vs concurrency/latency  %.0f%% of %.0f jobs/s", Double(jobs) / window / ideal * 100, ideal))
        }
        }
    }

    /// An idle daemon's CPU and memory over `seconds`, then how promptly jobs that become due are sent.
    public static func idle(seconds: Double, trickle: Int, out: (String) -> Void) async throws {
        try await BenchEnvironment.with(latency: 0) { environment in
        let daemon = try environment.startDaemon(concurrency: 4, exitWhenIdle: false)
        defer { if daemon.isRunning { daemon.terminate(); daemon.waitUntilExit() } }
        try await Task.sleep(nanoseconds: 2_000_000_000)  // start-up and migration are not idleness
        let pid = daemon.processIdentifier
        let cpuBefore = Measurements.cpuSeconds(pid: pid)
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        let cpuAfter = Measurements.cpuSeconds(pid: pid)
        out(String(format: "idle: %.0f s with an empty queue", seconds))
        out(String(format: "  CPU               %.3f%% of one core (%.3f s)", (cpuAfter - cpuBefore) / seconds * 100, cpuAfter - cpuBefore))
        out(String(format: "  RSS               %.1f MiB (peak %.1f MiB)",
                   Measurements.memory(pid: pid, field: "VmRSS"), Measurements.memory(pid: pid, field: "VmHWM")))

        // Jobs that become due 0.3 s after their insert, one every 50 ms.
        let db = try Connection(path: environment.database)
        for index in 0..<trickle {
            try db.run(
                "INSERT INTO cancellations(order_number, paid_at) VALUES (?, ?)", "DUE-\(index)",
                Date().timeIntervalSince1970 - 10 + 0.3)
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        let deadline = Date().addingTimeInterval(30)
        while try environment.unfinished() > 0 && Date() < deadline {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let latencies = try environment.dueToSent(prefix: "DUE-")
        out("  due→sent          \(trickle) jobs becoming due one by one: p50 \(Measurements.milliseconds(Measurements.percentile(latencies, 50)))"
            + ", p99 \(Measurements.milliseconds(Measurements.percentile(latencies, 99)))"
            + ", max \(Measurements.milliseconds(latencies.max() ?? .nan))")

        // Jobs already due when inserted (a backlog): how soon another process's insert is noticed.
        for index in 0..<trickle {
            try db.run(
                "INSERT INTO cancellations(order_number, paid_at) VALUES (?, ?)", "LATE-\(index)", Date().timeIntervalSince1970 - 60)
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        while try environment.unfinished() > 0 && Date() < deadline.addingTimeInterval(30) {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let late = try environment.dueToSent(prefix: "LATE-")
        out("  insert→sent       \(trickle) jobs already due when inserted: p50 \(Measurements.milliseconds(Measurements.percentile(late, 50)))"
            + ", p99 \(Measurements.milliseconds(Measurements.percentile(late, 99)))"
            + ", max \(Measurements.milliseconds(late.max() ?? .nan))")
        }
    }

    /// While the daemon drains `jobs`, `writers` separate processes insert `inserts` orders each,
    /// one transaction per insert, with a 5 s busy timeout.
    public static func contention(jobs: Int, writers: Int, inserts: Int, out: (String) -> Void) async throws {
        try await BenchEnvironment.with(latency: 0) { environment in
        try environment.enqueue(jobs, prefix: "BACKLOG-", paidAt: Date().timeIntervalSince1970 - 60)
        let daemon = try environment.startDaemon(concurrency: 16, exitWhenIdle: false)
        defer { if daemon.isRunning { daemon.terminate(); daemon.waitUntilExit() } }
        out("contention: \(writers) writer processes × \(inserts) inserts (one transaction each, busy timeout 5 s) "
            + "while the daemon drains \(jobs) jobs")
        var children: [(Process, Pipe)] = []
        for writer in 1...writers {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Measurements.ownExecutable())
            process.arguments = ["bench", "writer", "--db", environment.database, "--inserts", String(inserts), "--prefix", "W\(writer)-"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            children.append((process, pipe))
        }
        var all: [Double] = []
        var lockedErrors = 0
        for (index, (process, pipe)) in children.enumerated() {
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            let fields = text.split(separator: "\n").first?.split(separator: " ") ?? []
            let errors = fields.count > 1 ? Int(fields[1]) ?? 0 : -1
            let latencies = fields.dropFirst(2).compactMap { Double($0) }
            lockedErrors += errors
            all += latencies
            out("  writer \(index + 1): \(latencies.count) inserts, \(errors) locked errors, p50 "
                + Measurements.milliseconds(Measurements.percentile(latencies, 50)) + ", p99 "
                + Measurements.milliseconds(Measurements.percentile(latencies, 99)))
        }
        let deadline = Date().addingTimeInterval(120)
        while try environment.unfinished() > 0 && Date() < deadline {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        out("  all writers: \(all.count) inserts, \(lockedErrors) \"database is locked\" errors, insert latency p50 "
            + Measurements.milliseconds(Measurements.percentile(all, 50)) + ", p99 "
            + Measurements.milliseconds(Measurements.percentile(all, 99)) + ", max "
            + Measurements.milliseconds(all.max() ?? .nan))
        out("  daemon: \(try environment.unfinished()) jobs left unfinished")
        }
    }

    /// One writer process of `contention`: prints "LOCKED errors" then every latency in seconds.
    public static func writer(database: String, inserts: Int, prefix: String, out: (String) -> Void) throws {
        var options = Connection.Options()
        options.busyTimeout = 5
        let db = try Connection(path: database, options: options)
        var latencies: [Double] = []
        var locked = 0
        for index in 0..<inserts {
            let start = DispatchTime.now().uptimeNanoseconds
            // (A `catch … as SQLiteError where …` pattern here crashes the 6.3 optimizer.)
            do throws(SQLiteError) {
                try db.run(
                    "INSERT INTO cancellations(order_number, paid_at) VALUES (?, ?)", "\(prefix)\(index)",
                    Date().timeIntervalSince1970 - 60)
            } catch {
                guard error.isLocked else { throw error }
                locked += 1
            }
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        out("LOCKED \(locked) " + latencies.map { String($0) }.joined(separator: " "))
    }
}
