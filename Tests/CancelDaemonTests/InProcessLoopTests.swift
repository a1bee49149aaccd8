import CancelCore
import CancelQueue
import CancelStore
import Foundation
import Logging
import SQLite
import Synchronization
import Testing
import TestSupport
import ZeusAPI

@testable import CancelDaemon

/// A clock the test moves: the loop sees time jump, and is nudged to look.
final class ManualClock: Sendable {
    private let current: Mutex<Double>
    init(_ start: Double) { current = Mutex(start) }
    var now: Double { current.withLock { $0 } }
    func advance(by seconds: Double) { current.withLock { $0 += seconds } }
}

/// A gateway in memory: answers each order from its script (then success), records every request.
final class ScriptedTransport: Transport {
    private let state = Mutex<(scripts: [String: [TransportOutcome]], sent: [(order: String, at: Double)])>(([:], []))
    let clock: ManualClock

    init(clock: ManualClock) { self.clock = clock }

    func script(_ order: String, _ outcomes: [TransportOutcome]) { state.withLock { $0.scripts[order] = outcomes } }
    var sent: [(order: String, at: Double)] { state.withLock { $0.sent } }
    /// Called with each order as its request is sent, before it is answered.
    let onSend = Mutex<(@Sendable (String) -> Void)?>(nil)

    /// Answers for these orders wait until `release`: a request stays in flight as long as the test wants.
    private let delayed = Mutex<(orders: Set<String>, waiting: [CheckedContinuation<Void, Never>])>(([], []))
    func delayAnswers(for order: String) { delayed.withLock { _ = $0.orders.insert(order) } }
    func release() {
        let waiting = delayed.withLock { state in
            state.orders = []
            defer { state.waiting = [] }
            return state.waiting
        }
        waiting.forEach { $0.resume() }
    }

    func send(_ request: PaymentReturnRequest, deadline: ContinuousClock.Instant) async -> TransportOutcome {
        // As the HTTP transport: nothing is written past the claim's deadline.
        guard ContinuousClock.now < deadline else { return .failed(.notSent("its send deadline had passed"), httpStatus: nil) }
        let body = String(decoding: request.body, as: UTF8.self)
        let order = String(body.split(separator: "<order_number>")[1].split(separator: "</order_number>")[0])
        let now = clock.now
        state.withLock { $0.sent.append((order, now)) }
        onSend.withLock { $0 }?(order)
        await withCheckedContinuation { continuation in
            let wait = delayed.withLock { state in
                guard state.orders.contains(order) else { return false }
                state.waiting.append(continuation)
                return true
            }
            if !wait { continuation.resume() }
        }
        return state.withLock { state in
            guard var queue = state.scripts[order], !queue.isEmpty else {
                return .answered(httpStatus: 200, .init(status: "success", code: "000"))
            }
            let next = queue.removeFirst()
            state.scripts[order] = queue
            return next
        }
    }

    func shutdown() async {}
}

extension TransportOutcome {
    static func gateway(_ status: String, _ code: String) -> Self { .answered(httpStatus: 200, .init(status: status, code: code)) }
}

/// The real run loop and SQLite store in this process, with the clock and the gateway in the
/// test's hands: a retry schedule or a maintenance probe takes milliseconds, not minutes.
@Suite("Run loop in process", .timeLimit(.minutes(1)))
struct InProcessLoopTests {
    struct Rig {
        let store: CancelStore
        let reader: Connection
        let clock: ManualClock
        let transport: ScriptedTransport
        let daemon: CancellationDaemon
        let start: Double

        /// Moves time forward and wakes the loop, as a due time or a pause end would.
        func advance(by seconds: Double) {
            clock.advance(by: seconds)
            daemon.inbox.nudge()
        }

        func attemptRows(_ order: String) throws -> [String] {
            try reader.query(
                """
                SELECT coalesce(a.result_status || '/' || a.result_code, 'error: ' || a.error, 'open')
                FROM cancellation_attempts a JOIN cancellations c ON c.id = a.cancellation_id
                WHERE c.order_number = ? ORDER BY a.attempt
                """, [order]) { $0.string(0) }
        }

        /// The gate as stored, read through a connection of its own: the daemon's connection is
        /// opened without SQLite's mutex and must never be used from the test's thread meanwhile.
        func gate() throws -> SendingGate { try CancelStore.openReadOnly(path: store.path).loadGateNow() }

        func state(_ order: String) throws -> String? {
            try reader.queryOne("SELECT state || '/' || coalesce(outcome, '-') FROM cancellations WHERE order_number = ?", [order]) {
                $0.string(0)
            }
        }
    }

    /// Runs the daemon on `orders` (paid a minute ago, so due at once) until no job is left.
    func withRig(
        orders: [String], backlog: Int = 0, concurrency: Int = 4, policy: RetryPolicy, surgeLimit: SurgeLimit = .off,
        exitWhenIdle: Bool = true, _ body: (Rig) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            let now = QueueClock.now()
            for order in orders { _ = try store.enqueueNow(orderNumber: order, paidAt: now - 60) }
            // A backlog as an application's one big insert: BACKLOG-1 ... BACKLOG-n, due at once.
            _ = try store.connection.run(
                """
                WITH RECURSIVE n(i) AS (SELECT 1 WHERE ? > 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO cancellations(order_number, paid_at) SELECT 'BACKLOG-' || i, ? FROM n
                """, backlog, backlog, now - 60)
            let clock = ManualClock(now)
            let transport = ScriptedTransport(clock: clock)
            let configuration = try DaemonConfiguration(
                databasePath: dir + "/q.db", endpoint: "http://127.0.0.1:9/x", clientIP: try ClientIPCode(validating: "12345"),
                key: try AuthKey(validating: "test-key"), policy: policy, concurrency: concurrency, pollInterval: 3600,
                exitWhenIdle: exitWhenIdle, surgeLimit: surgeLimit)
            let daemon = CancellationDaemon(
                configuration: configuration, store: store, transport: transport,
                logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, notifier: nil, clock: { clock.now })
            let rig = Rig(
                store: store, reader: try Connection(path: dir + "/q.db", options: .reader), clock: clock, transport: transport,
                daemon: daemon, start: now)
            let running = Task { try await daemon.run() }
            try await body(rig)
            try await running.value
        }
    }

    @Test("a refused payment is retried on the backoff schedule: 30 s, then 60 s, measured on the daemon's clock")
    func retrySchedule() async throws {
        try await withRig(orders: ["RETRY-1"], policy: try RetryPolicy(jitter: 0)) { rig in
            rig.transport.script("RETRY-1", [.gateway("failure", "02189999"), .gateway("failure", "02189999")])
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 1 })
            rig.advance(by: 29)
            try await Task.sleep(nanoseconds: 50_000_000)
            #expect(rig.transport.sent.count == 1, "resent before its 30 s backoff")
            rig.advance(by: 1)
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 2 })
            rig.advance(by: 60)
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 3 })
            #expect(rig.transport.sent.map { $0.at - rig.start } == [0, 30, 90])
            #expect(await eventually(timeout: 5) { (try? rig.state("RETRY-1")) == "succeeded/cancelled" })
            #expect(try rig.attemptRows("RETRY-1") == ["failure/02189999", "failure/02189999", "success/000"])
        }
    }

    @Test("maintenance pauses every job; after the pause one probe only; its success resumes all")
    func maintenanceProbe() async throws {
        let orders = ["M-1", "M-2", "M-3"]
        try await withRig(orders: orders, concurrency: 1, policy: try RetryPolicy(jitter: 0)) { rig in
            rig.transport.script("M-1", [.gateway("maintenance", "02000012")])
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 1 })
            rig.advance(by: 299)
            try await Task.sleep(nanoseconds: 50_000_000)
            #expect(rig.transport.sent.count == 1, "a request left during the 300 s pause")
            #expect(try rig.gate().mode == .paused)
            rig.advance(by: 1)
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 4 })
            let sent = rig.transport.sent
            #expect(sent.dropFirst().allSatisfy { $0.at - rig.start == 300 }, "\(sent)")
            #expect(await eventually(timeout: 5) { orders.allSatisfy { (try? rig.state($0)) == "succeeded/cancelled" } })
            #expect(try rig.gate() == .open)
            #expect(try rig.reader.queryOne("SELECT sum(attempt_count) FROM cancellations") { $0.int(0) } == 0)
        }
    }

    @Test("an operator's resume during a pause sends one probe, not a burst; maintenance still on, the pause goes on")
    func resumeDuringPauseProbesOnce() async throws {
        let orders = ["R-1", "R-2", "R-3", "R-4"]
        try await withRig(orders: orders, concurrency: 4, policy: try RetryPolicy(jitter: 0)) { rig in
            for order in orders { rig.transport.script(order, [.gateway("maintenance", "02000012"), .gateway("maintenance", "02000012")]) }
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 4 })
            #expect(await eventually(timeout: 5) { (try? rig.gate().mode) == .paused })
            rig.advance(by: 10)
            _ = try await CancelStore.openMigrated(path: rig.store.path).resumeSending(now: rig.clock.now)
            rig.daemon.inbox.nudge()
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 5 })
            try await Task.sleep(nanoseconds: 100_000_000)
            #expect(rig.transport.sent.count == 5, "a resume released \(rig.transport.sent.count - 4) requests instead of one probe")
            guard case .paused(let until, let streak, _) = try rig.gate() else {
                Issue.record("not paused")
                return
            }
            #expect(streak == 2 && until == rig.start + 10 + 600, "the pause doubles on: \(streak), \(until - rig.start)")
            // Let the rest finish: maintenance over.
            for order in orders { rig.transport.script(order, []) }
            rig.advance(by: 600)
            #expect(await eventually(timeout: 5) { orders.allSatisfy { (try? rig.state($0)) == "succeeded/cancelled" } })
        }
    }

    @Test("a credential rejection halts after one request; nothing more leaves however far the clock moves")
    func credentialHalt() async throws {
        try await withRig(orders: ["K-1", "K-2"], concurrency: 1, policy: try RetryPolicy(jitter: 0)) { rig in
            rig.transport.script("K-1", [.gateway("invalid", "02130210")])
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 1 })
            rig.advance(by: 86_400)
            try await Task.sleep(nanoseconds: 100_000_000)
            #expect(rig.transport.sent.count == 1)
            guard case .halted(let reason, _) = try rig.gate() else {
                Issue.record("not halted")
                return
            }
            #expect(reason.code == "02130210")
            // An operator's resume (another process's commit) lets the loop finish the queue.
            _ = try await CancelStore.openMigrated(path: rig.store.path).resumeSending(now: rig.clock.now)
            rig.daemon.inbox.nudge()
            #expect(await eventually(timeout: 5) { rig.transport.sent.count == 3 })
        }
    }
}
