import CancelMetrics
import Foundation
import Logging
import TestSupport
import Testing

/// The listener's connection cap against a crowd of slow local clients: probes are still answered.
@Suite("metrics listener: connection cap", .serialized)
struct ConnectionCapTests {
    static let cap = MetricsServer.maximumConnections

    func withServer(_ source: ScriptedSource = ScriptedSource(), patience: Duration = .seconds(5), _ body: (Int) async throws -> Void)
        async throws
    {
        let exporter = MetricsExporter(source: source, logger: Logger(label: "test"), patience: patience)
        let server = try await MetricsServer.start(at: try MetricsListenAddress(parsing: "127.0.0.1:0", allowRemote: false), exporter: exporter)
        do {
            try await body(server.port)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// A fresh GET, timed; nil status when the listener closed it without an answer.
    func probe(_ port: Int, _ path: String) -> (status: Int?, seconds: Double, body: String) {
        let started = Date()
        let answer = try? loopbackHTTP(port: port, path: path, timeout: 3)
        return (answer?.status, Date().timeIntervalSince(started), answer?.body ?? "")
    }

    @Test("more connections than the cap trickling half a request: every fresh /healthz and /metrics is answered within a second")
    func probesAnsweredUnderTricklingCrowd() async throws {
        try await withServer { port in
            let crowd = try TricklingCrowd(port: port, size: Self.cap + 8)
            try await crowd.trickle(for: 1.5)
            for round in 0..<6 {
                for path in ["/healthz", "/metrics"] {
                    let answer = probe(port, path)
                    #expect(answer.status == 200, "round \(round) \(path): \(answer.status.map(String.init) ?? "closed without an answer")")
                    #expect(answer.seconds < 1, "round \(round) \(path): \(answer.seconds) s")
                }
                #expect(probe(port, "/metrics").body.contains("cancelq_store_read_ok 1"))
                try await crowd.trickle(for: 0.5)
            }
            // Room was made by closing members of the crowd (the oldest first), not by letting it grow.
            #expect(crowd.closedByServer >= 8 + 6)
        }
    }

    @Test("a slow client whose head takes 2 s is answered, at the cap and while probes keep arriving")
    func slowCompleteRequestAnswered() async throws {
        try await withServer { port in
            let crowd = try TricklingCrowd(port: port, size: Self.cap)
            try await crowd.trickle(for: 0.5)
            let slow = try LoopbackConnection(port: port)
            let request = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
            let started = Date()
            for (index, chunk) in stride(from: 0, to: request.count, by: 6).map({ request[$0..<min($0 + 6, request.count)] }).enumerated() {
                #expect(slow.send(Array(chunk)), "chunk \(index) sent")
                try crowd.trickle()
                #expect(probe(port, "/healthz").status == 200)
                try await Task.sleep(for: .milliseconds(200))
            }
            let answer = slow.receive(timeout: 3)
            #expect(Date().timeIntervalSince(started) >= 2)
            #expect(String(decoding: answer.bytes, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
        }
    }

    @Test("past the cap, a keep-alive connection idle since its answer is closed for a newcomer, before any younger trickler")
    func idleKeepAliveClosedFirst() async throws {
        try await withServer { port in
            let kept = try LoopbackConnection(port: port)
            kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(String(decoding: kept.receive(timeout: 0.5).bytes, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
            try await Task.sleep(for: .milliseconds(50))
            let crowd = try TricklingCrowd(port: port, size: Self.cap - 1)
            try await Task.sleep(for: .milliseconds(200))
            #expect(!kept.receive(timeout: 0.01).closed, "at the cap, nothing closed yet")
            #expect(probe(port, "/healthz").status == 200)
            #expect(kept.receive(timeout: 0.5).closed, "the idle keep-alive connection made room")
            #expect(!crowd.closedNow().contains(true), "no trickler was closed")
        }
    }

    @Test("connections whose answers wait on the store are never closed for a newcomer: then the newcomer is")
    func answeringConnectionsKept() async throws {
        let source = ScriptedSource()
        source.hanging.withLock { $0 = true }
        try await withServer(source, patience: .seconds(2)) { port in
            let waiting = try (0..<Self.cap).map { _ in try LoopbackConnection(port: port) }
            for connection in waiting { connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") }
            try await Task.sleep(for: .milliseconds(300))
            let newcomer = probe(port, "/healthz")
            #expect(newcomer.status == nil, "every slot is being answered: the newcomer is closed")
            // Each waiting request is answered (503 UNKNOWN: the store did not answer within the patience).
            for (index, connection) in waiting.enumerated() {
                let text = String(decoding: connection.receive(timeout: 4).bytes, as: UTF8.self)
                #expect(text.hasPrefix("HTTP/1.1 503") && text.contains("UNKNOWN"), "connection \(index): \(text.prefix(60))")
            }
            source.hanging.withLock { $0 = false }
            try await Task.sleep(for: .milliseconds(100))
            #expect(probe(port, "/healthz").status == 200)
        }
    }
}
