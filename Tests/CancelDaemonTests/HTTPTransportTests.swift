import CancelCore
import Foundation
import GatewaySimulator
import TestSupport
import Testing
import ZeusAPI

@testable import CancelDaemon

/// The transport against the simulator: every kind of failure maps to what the state machine knows.
@Suite("HTTP transport", .timeLimit(.minutes(1)))
struct HTTPTransportTests {
    let request = try! PaymentReturnRequest(clientIP: "12345", key: "demo-key", orderNumber: "T-1")

    func withSimulator(
        requestTimeout: Double = 1, _ body: (SimulatorState, HTTPTransport) async throws -> Void
    ) async throws {
        let state = SimulatorState(clientIP: "12345", key: "demo-key")
        let simulator = try await GatewaySimulator.start(state: state)
        let transport = HTTPTransport(endpoint: simulator.endpoint, requestTimeout: requestTimeout, concurrency: 2)
        do {
            try await body(state, transport)
        } catch {
            await transport.shutdown()
            await simulator.stop()
            throw error
        }
        await transport.shutdown()
        await simulator.stop()
    }

    @Test("an answer decodes; the exact headers pass the gateway's checks")
    func answered() async throws {
        try await withSimulator { state, transport in
            #expect(await transport.send(request) == .answered(httpStatus: 200, .init(status: "success", code: "000")))
            #expect(await transport.send(request) == .answered(httpStatus: 200, .init(status: "invalid", code: "02180118")))
        }
    }

    @Test("no answer before the timeout is a timeout; the gateway did process it")
    func hang() async throws {
        try await withSimulator { state, transport in
            state.addFault(.hang)
            #expect(await transport.send(request) == .failed(.timeout, httpStatus: nil))
            #expect(state.isCancelled("T-1"))
        }
    }

    @Test("a cut connection is a reset")
    func cut() async throws {
        try await withSimulator { state, transport in
            state.addFault(.cut)
            #expect(await transport.send(request) == .failed(.connectionReset, httpStatus: nil))
        }
    }

    @Test("HTML or garbage with HTTP 200 is an undecodable body")
    func undecodable() async throws {
        try await withSimulator { state, transport in
            state.addFault(.html)
            state.addFault(.garbage)
            for _ in 0..<2 {
                guard case .failed(.undecodableBody, 200) = await transport.send(request) else {
                    Issue.record("expected an undecodable body")
                    return
                }
            }
        }
    }

    @Test("a non-200 status is reported as such, even with a body over the 64 KiB answer limit")
    func httpStatus() async throws {
        try await withSimulator { state, transport in
            state.addFault(.httpStatus(503))
            #expect(await transport.send(request) == .failed(.httpStatus(503), httpStatus: 503))
            // The connection was drained and is usable for the next request.
            #expect(await transport.send(request) == .answered(httpStatus: 200, .init(status: "success", code: "000")))
        }
    }

    @Test("a body trickled slower than the timeout is cut at the timeout: one deadline for the whole request")
    func trickleCut() async throws {
        try await withSimulator { state, transport in
            // Head at once, then a byte every 0.5 s: a read timeout of 1 s would never fire.
            state.addFault(.trickle(0.5))
            let start = ContinuousClock.now
            let outcome = await transport.send(request)
            let elapsed = ContinuousClock.now - start
            #expect(outcome == .failed(.timeout, httpStatus: 200))
            #expect(elapsed < .seconds(2.5), "took \(elapsed) with a 1 s request timeout")
            #expect(state.isCancelled("T-1"), "the gateway processed it: the outcome is unknown, resending is safe")
        }
    }

    @Test("a body trickled well within the timeout is read whole")
    func trickleWithin() async throws {
        try await withSimulator(requestTimeout: 10) { state, transport in
            state.addFault(.trickle(0.002))
            #expect(await transport.send(request) == .answered(httpStatus: 200, .init(status: "success", code: "000")))
        }
    }

    @Test("a 200 answer over 64 KiB is refused as undecodable, even when read against the deadline")
    func oversized() async throws {
        // Room for a loaded machine: this test is about the size cap, not the deadline.
        try await withSimulator(requestTimeout: 15) { state, transport in
            state.addFault(.httpStatus(200))
            #expect(await transport.send(request) == .failed(.undecodableBody("answer larger than 64 KiB"), httpStatus: 200))
        }
    }

    @Test("nothing listening is connection refused")
    func refused() async throws {
        // Held, not freed: a port merely closed could be taken by another process meanwhile.
        let held = try HeldPort()
        let transport = HTTPTransport(
            endpoint: "http://127.0.0.1:\(held.port)/cgi-bin/secure/api.cgi", requestTimeout: 2, concurrency: 1)
        let outcome = await transport.send(request)
        await transport.shutdown()
        withExtendedLifetime(held) {}
        #expect(outcome == .failed(.connectionRefused, httpStatus: nil), "\(outcome)")
    }
}
