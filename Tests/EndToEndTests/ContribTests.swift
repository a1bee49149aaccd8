import CancelMetrics
import Foundation
import TestSupport
import Testing

/// `contrib/`: the alert rules and the Grafana dashboard may name only metrics a running daemon
/// exports, and every query in them must parse as PromQL.
@Suite("contrib: alert rules and dashboard")
struct ContribTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let rules = root.appendingPathComponent("contrib/prometheus/cancelq-alerts.yml")
    static let dashboard = root.appendingPathComponent("contrib/grafana/cancelq-dashboard.json")

    /// Every `expr` of the dashboard's panels.
    static func dashboardQueries() throws -> [String] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dashboard)) as? [String: Any]
        let panels = try #require(json?["panels"] as? [[String: Any]])
        return panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
    }

    @Test("the alert rules and the dashboard name only metrics a running daemon exports, and use every one")
    func namesExist() async throws {
        let queries = try Self.dashboardQueries()
        #expect(queries.count >= 10)
        let rules = try String(contentsOf: Self.rules, encoding: .utf8)
        let named = Set((queries + [rules]).flatMap { $0.matches(of: /cancelq_[a-z_]+/).map { String($0.output) } })
        #expect(!named.isEmpty)
        try await DaemonHarness.withHarness { harness in
            try await harness.migrate()
            let daemon = try await MetricsDaemon.start(harness)
            let scraped = try daemon.scrape().parsed
            // A SQLite daemon, plus what only a daemon of a shared queue exports (PostgresMetricsTests
            // checks a PostgreSQL daemon exports the whole catalogue).
            let exported = Set(scraped.families.values.flatMap { family in family.samples.map(\.name) + [family.name] })
                .union(MetricCatalog.sharedQueueOnly)
            for name in named { #expect(exported.contains(name), "\(name) is named in contrib/ but not exported") }
            // Each metric is watched somewhere: on a dashboard or in an alert.
            for metric in MetricCatalog.all {
                #expect(named.contains { $0 == metric.name || $0.hasPrefix(metric.name + "_") }, "\(metric.name) is in neither")
            }
        }
    }

    @Test("every dashboard query parses as PromQL (promtool), and the alert rules pass promtool check and test")
    func promtoolAcceptsContrib() async throws {
        guard let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first(where: FileManager.default.isExecutableFile) else {
            // .ci/run installs Debian's prometheus package, so CI always runs this.
            print("promtool not installed: contrib/ PromQL not parsed here")
            return
        }
        try await withTemporaryDirectory { directory in
            // Recording rules are the one place promtool parses an arbitrary expression.
            let recording = try Self.dashboardQueries().enumerated().map { index, query in
                let quoted = String(data: try JSONSerialization.data(withJSONObject: [query.replacingOccurrences(of: "$instance", with: ".*")], options: [.withoutEscapingSlashes]), encoding: .utf8)!
                return "      - record: dashboard:query_\(index)\n        expr: \(quoted.dropFirst().dropLast())\n"
            }.joined()
            let file = directory + "/dashboard-rules.yml"
            try Data(("groups:\n  - name: dashboard\n    rules:\n" + recording).utf8).write(to: URL(fileURLWithPath: file))
            let dashboard = try runProgram(promtool, ["check", "rules", file])
            #expect(dashboard.status == 0, "\(dashboard.output)")
            let rules = try runProgram(promtool, ["check", "rules", Self.rules.path])
            #expect(rules.status == 0, "\(rules.output)")
            let unit = try runProgram(
                "/bin/sh", ["-c", "cd '\(Self.rules.deletingLastPathComponent().path)' && '\(promtool)' test rules cancelq-alerts.test.yml 2>&1"])
            #expect(unit.status == 0, "\(unit.output)")
        }
    }
}
