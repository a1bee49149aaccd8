import Foundation
import Testing
import TestSupport
import ZeusAPI

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite("cancelq gateway-sim")
struct GatewaySimCommandTests {
    func call(_ method: String, _ url: String, body: [UInt8]? = nil) async throws -> String {
        var request = URLRequest(url: try #require(URL(string: url), "not a URL: \(url)"))
        request.httpMethod = method
        if let body {
            request.httpBody = Data(body)
            request.setValue("application/xml", forHTTPHeaderField: "Content-Type")
        }
        let (data, _) = try await URLSession.shared.data(for: request)
        return String(decoding: data, as: UTF8.self)
    }

    @Test("it prints the URL of the port it bound, answers as the gateway, and obeys the control API")
    func binary() async throws {
        try await withTemporaryDirectory { dir in
            let simulator = try RunningProcess(["gateway-sim", "--port", "0"], directory: dir)
            #expect(await simulator.waitForOutput("gateway-sim listening on http://127.0.0.1:", timeout: 10))
            let firstLine = try #require(simulator.output.split(separator: "\n").first)
            let endpoint = String(try #require(firstLine.split(separator: " ").last))
            let base = endpoint.replacingOccurrences(of: "/cgi-bin/secure/api.cgi", with: "")
            let request = try PaymentReturnRequest(clientIP: "12345", key: "demo-key", orderNumber: "SIM-1")

            #expect(try await call("POST", base + "/_sim/maintenance?on=1").contains("maintenance on"))
            #expect(try await call("POST", endpoint, body: request.body).contains("<status>maintenance</status>"))
            _ = try await call("POST", base + "/_sim/maintenance?on=0")
            #expect(try await call("POST", base + "/_sim/fault?kind=failure&order=SIM-1").contains("fault failure x1 for SIM-1"))
            #expect(try await call("POST", endpoint, body: request.body).contains("<code>02189999</code>"))
            #expect(try await call("POST", endpoint, body: request.body).contains("<code>000</code>"))
            #expect(try await call("GET", endpoint).contains("<code>02030105</code>"))
            let log = try await call("GET", base + "/_sim/requests")
            #expect(log.split(separator: "\n").count == 4, "\(log)")
            #expect(log.contains("SIM-1\tsuccess/000\tcancelled"))
            #expect(try await call("POST", base + "/_sim/fault?kind=explode").contains("fault needs kind="))
            simulator.signal(SIGTERM)
            #expect(await simulator.waitForExit(timeout: 10) == 0)
        }
    }
}
