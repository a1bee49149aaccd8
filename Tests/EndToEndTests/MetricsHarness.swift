import Foundation
import SQLite
import TestSupport

/// A daemon started with `--metrics-listen 127.0.0.1:0`, and the port it logged.
struct MetricsDaemon {
    let process: RunningProcess
    let port: Int

    static func start(_ harness: DaemonHarness, _ extra: [String] = []) async throws -> MetricsDaemon {
        try await attach(try harness.startDaemon(["--metrics-listen", "127.0.0.1:0"] + extra))
    }

    /// A daemon started with `--metrics-listen 127.0.0.1:0`: waits for the line naming its port.
    static func attach(_ process: RunningProcess) async throws -> MetricsDaemon {
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

/// The TCP ports process `pid` listens on: its socket inodes matched against /proc/net/tcp{,6}.
func listeningPorts(pid: Int32) throws -> Set<Int> {
    let fdDirectory = "/proc/\(pid)/fd"
    let inodes = Set(try FileManager.default.contentsOfDirectory(atPath: fdDirectory).compactMap { fd -> String? in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: fdDirectory + "/" + fd),
            target.hasPrefix("socket:[")
        else { return nil }
        return String(target.dropFirst(8).dropLast())
    })
    var ports: Set<Int> = []
    for table in ["/proc/\(pid)/net/tcp", "/proc/\(pid)/net/tcp6"] {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])),
                let port = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) })
            else { continue }
            ports.insert(port)
        }
    }
    return ports
}
