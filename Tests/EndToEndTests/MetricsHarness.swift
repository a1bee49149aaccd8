import Foundation
import SQLite
import TestSupport

/// A daemon started with `--metrics-listen 127.0.0.1:0`, and the port it logged.
struct MetricsDaemon {
    let process: RunningProcess
    let port: Int

    static func start(_ harness: DaemonHarness, _ extra: [String] = []) async throws -> MetricsDaemon {
        let process = try harness.startDaemon(["--metrics-listen", "127.0.0.1:0"] + extra)
        guard await process.waitForOutput("/metrics and /healthz", timeout: 15),
            let match = process.output.firstMatch(of: /serving http:\/\/127\.0\.0\.1:(\d+)\/metrics/), let port = Int(match.1)
        else { throw TestFailure("the daemon did not say where it serves metrics: \(process.output)") }
        return MetricsDaemon(process: process, port: port)
    }

    func scrape() throws -> (text: String, parsed: PrometheusExposition) {
        let answer = try loopbackHTTP(port: port, path: "/metrics")
        guard answer.status == 200 else { throw TestFailure("/metrics answered \(answer.status): \(answer.body)") }
        return (answer.body, try PrometheusExposition(parsing: answer.body))
    }

    func health() throws -> (status: Int, body: String) {
        let answer = try loopbackHTTP(port: port, path: "/healthz")
        return (answer.status, answer.body)
    }
}

extension DaemonHarness {
    /// `SELECT a, b, count(*) … GROUP BY …` (with `keys` key columns) as [[a, b]: count].
    func grouped(_ sql: String, keys: Int = 1) throws -> [[String]: Int] {
        let rows = try reader().query(sql) { row in ((0..<keys).map { row.string($0) }, row.int(keys)) }
        return Dictionary(uniqueKeysWithValues: rows)
    }
}

/// `promtool check metrics` on a scrape, when promtool is installed (.ci/run installs it).
func promtoolCheckMetrics(_ text: String, directory: String) throws -> (status: Int32, output: String)? {
    guard let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first(where: FileManager.default.isExecutableFile)
    else { return nil }
    let file = directory + "/scrape.txt"
    try Data(text.utf8).write(to: URL(fileURLWithPath: file))
    return try runProgram("/bin/sh", ["-c", "'\(promtool)' check metrics < '\(file)' 2>&1"])
}
