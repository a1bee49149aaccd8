import ZeusAPI
import CancelConsole
import CancelCore
import CancelDaemon
import CancelQueue
import CancelStore
import Foundation
import GatewaySimulator
import Logging
import SQLite
import ServiceLifecycle

/// `cancelq demo`: the real daemon, HTTP client and database against the simulator on loopback,
/// with a handful of orders that show each behaviour of SPEC.md. No credentials, no network.
public struct DemoScenario {
    struct DemoOrder {
        let number: String
        let story: String
        let paidAgo: Double
        let expected: Outcome
        let setup: @Sendable (SimulatorState) -> Void
    }

    static let orders: [DemoOrder] = [
        DemoOrder(number: "DEMO-1001", story: "cancelled on the first try", paidAgo: 60, expected: .cancelled) { _ in },
        DemoOrder(number: "DEMO-1002", story: "refused once (failure/02189999), retried, cancelled", paidAgo: 60, expected: .cancelled) {
            $0.addFault(.answer(status: "failure", code: "02189999"), order: "DEMO-1002")
        },
        DemoOrder(number: "DEMO-1003", story: "gateway in maintenance: sending pauses, one probe, then all resume", paidAgo: 60, expected: .cancelled) {
            $0.addFault(.answer(status: "maintenance", code: "02000012"), order: "DEMO-1003")
        },
        DemoOrder(number: "DEMO-1004", story: "answer lost (timeout), resent, gateway says already cancelled (02180118)", paidAgo: 60, expected: .alreadyCancelled) {
            $0.addFault(.hang, order: "DEMO-1004")
        },
        DemoOrder(number: "DEMO-1005", story: "paid just now: waits the 5 s delay ZEUS asks for", paidAgo: 0, expected: .cancelled) { _ in },
        DemoOrder(number: "DEMO-1007", story: "queued by mistake: the application withdraws it, it never reaches the gateway", paidAgo: 60, expected: .withdrawn) { _ in },
    ]

    /// A bulk of orders queued at once: with the stories, more than the demo's surge limit.
    static let bulk = (1...10).map { "DEMO-BULK-\($0 < 10 ? "0" : "")\($0)" }
    static let surgeLimit = SurgeLimit(holdAbove: 12, window: 3600)

    public let keep: Bool
    public let colour: Bool
    private let out: @Sendable (String) -> Void

    public init(keep: Bool, colour: Bool, out: @escaping @Sendable (String) -> Void) {
        self.keep = keep
        self.colour = colour
        self.out = out
    }

    /// What happens beside the daemon: once sending is held, the application withdraws its wrong
    /// order (SQL, as the README shows), then the operator approves the rest (`cancelq approve --yes`).
    static func applicationAndOperator(database: String, out: @escaping @Sendable (String) -> Void) async throws {
        let side = try CancelStore.openMigrated(path: database)
        for _ in 0..<200 {
            if case .held = try side.loadGateNow() { break }
            try await Task.sleep(nanoseconds: 25_000_000)
        }
        let app = try Connection(path: database)
        try app.run("INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, ?)", "DEMO-1007", "queued by mistake")
        out("  application: INSERT INTO cancellation_withdrawals(order_number, reason) VALUES ('DEMO-1007', 'queued by mistake') -> withdrawn")
        try await Task.sleep(nanoseconds: 1_000_000_000)
        if case .released(let held) = try await side.approve(by: "demo") {
            out("  operator: cancelq approve --yes -> \(held.backlog) waiting job(s) released")
        }
    }

    /// Runs the demo; true when every order ended where SPEC.md says.
    public func run() async throws -> Bool {
        let paint = Paint(enabled: colour)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cancelq-demo-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: directory) } }
        let database = directory + "/queue.db"

        let state = SimulatorState(clientIP: "12345", key: "demo-key", latency: 0.05)
        let simulator = try await GatewaySimulator.start(state: state)
        defer { Task { await simulator.stop() } }
        for order in Self.orders { order.setup(state) }

        let configuration = try DaemonConfiguration(
            databasePath: database, endpoint: simulator.endpoint, clientIP: try ClientIPCode(validating: "12345"),
            key: try AuthKey(validating: "demo-key"),
            policy: try RetryPolicy(delayAfterPayment: 5, backoffBase: 1, backoffCap: 2, maintenancePause: 3),
            requestTimeout: 2, concurrency: 4, pollInterval: 0.2, exitWhenIdle: true, surgeLimit: Self.surgeLimit)
        let policy = configuration.policy
        let standard = RetryPolicy.standard
        out(paint.bold("cancelq demo") + ": the daemon against a simulated ZEUS gateway at \(simulator.endpoint)")
        out("  queue: \(database)")
        out(paint.yellow("  timings are shortened for the demo") + ": delay \(Formatting.duration(policy.delayAfterPayment)) "
            + "(default \(Formatting.duration(standard.delayAfterPayment))), retries after \(Formatting.duration(policy.backoffBase))"
            + " to \(Formatting.duration(policy.backoffCap)) (default \(Formatting.duration(standard.backoffBase)) doubling to "
            + "\(Formatting.duration(standard.backoffCap))), maintenance pause \(Formatting.duration(policy.maintenancePause)) "
            + "(default \(Formatting.duration(standard.maintenancePause))), request timeout "
            + "\(Formatting.duration(configuration.requestTimeout)) (default 30 s), surge hold above \(Self.surgeLimit.holdAbove) jobs "
            + "within \(Formatting.duration(Self.surgeLimit.window)) (default \(DaemonConfiguration.Defaults.holdAbove))")
        out(paint.dim("  the left column counts seconds since the daemon started; other times are local, with their UTC offset"))
        let store = try CancelStore.open(path: database, create: true)
        let now = QueueClock.now()
        for order in Self.orders {
            _ = try await store.enqueue(orderNumber: order.number, paidAt: now - order.paidAgo)
            out("  queued \(order.number): \(order.story)")
        }
        for order in Self.bulk { _ = try await store.enqueue(orderNumber: order, paidAt: now - 60) }
        out("  queued \(Self.bulk.count) more at once (DEMO-BULK-01 to -\(Self.bulk.count)): a surge: sending is held, and an operator approves the rest")
        do {
            _ = try await store.enqueue(orderNumber: "DEMO 1006", paidAt: nil)
        } catch {
            out("  refused \"DEMO 1006\" at the door: \(error)")
        }
        out("")
        let sideOut = out
        let sideTask = Task { [database] in try await Self.applicationAndOperator(database: database, out: sideOut) }

        let start = Date()
        let sink = out
        let logger = Logger(label: "cancelq") { _ in ProgressLogHandler(start: start, colour: colour, sink: sink) }
        let daemon = CancellationDaemon(
            configuration: configuration, store: store,
            transport: HTTPTransport(endpoint: simulator.endpoint, requestTimeout: 2, concurrency: 4), logger: logger,
            notifier: nil)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "demo") { _ in SwiftLogNoOpLogHandler() }))
        try await group.run()
        try await sideTask.value

        out("")
        let report = try store.statusReport(
            now: QueueClock.now(), startOfDay: Calendar.current.startOfDay(for: Date()).timeIntervalSince1970)
        out(StatusText(colour: colour).render(report))
        out("")
        var allAsExpected = true
        for order in Self.orders {
            let outcome = try store.job(orderNumber: order.number)?.job.outcome
            let ok = outcome == order.expected
            allAsExpected = allAsExpected && ok
            out("  \(ok ? paint.green("ok") : paint.red("UNEXPECTED"))  \(order.number)  \(outcome?.rawValue ?? "unfinished")  (\(order.story))")
        }
        let bulkOutcomes = try Self.bulk.map { try store.job(orderNumber: $0)?.job.outcome }
        let bulkOK = bulkOutcomes.allSatisfy { $0 == .cancelled }
        allAsExpected = allAsExpected && bulkOK
        out("  \(bulkOK ? paint.green("ok") : paint.red("UNEXPECTED"))  \(Self.bulk.count) bulk orders cancelled after the approval")
        out("")
        let attemptRows = try store.connection.queryOne("SELECT count(*) FROM cancellation_attempts") { $0.int(0) } ?? 0
        let requestsSeen = state.requests.count
        allAsExpected = allAsExpected && attemptRows == requestsSeen
        out("The simulator saw \(requestsSeen) requests; the audit trail has \(attemptRows) attempt rows.")
        if keep {
            out("Explore: cancelq status --db \(database) --order DEMO-1004")
        } else {
            out(paint.dim("(run `cancelq demo --keep` to keep the database and explore it with `cancelq status --order DEMO-1004`)"))
        }
        return allAsExpected
    }
}
