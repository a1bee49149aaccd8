import Foundation
import GatewaySimulator
import NIOSSL
import Testing
import TestSupport

/// `cancelq run` over HTTPS with a CA made at test time: it drains when the gateway proves who it
/// is, and sends nothing when it cannot.
@Suite("cancelq run over TLS", .timeLimit(.minutes(1)))
struct TLSTests {
    @Test("jobs drain over HTTPS from gateway-sim serving a certificate of the CA given by --ca-file")
    func drainsOverHTTPS() async throws {
        try await DaemonHarness.withHarness { h in
            let files = try TestCertificateAuthority().write(into: h.directory, name: "server")
            let simulator = try RunningProcess(
                [
                    "gateway-sim", "--port", "0", "--client-ip", DaemonHarness.clientIP, "--key-file", h.keyFile,
                    "--tls-cert", files.certificate, "--tls-key", files.key,
                ], directory: h.directory)
            #expect(await simulator.waitForOutput("gateway-sim listening on https://127.0.0.1:", timeout: 10), "\(simulator.output)")
            let line = try #require(simulator.output.split(separator: "\n").first)
            let endpoint = String(try #require(line.split(separator: " ").last))
            let orders = ["TLS-1", "TLS-2", "TLS-3"]
            try await h.migrate()
            try h.enqueue(orders)
            let daemon = try h.startDaemon(["--exit-when-idle", "--ca-file", files.ca], endpoint: endpoint)
            #expect(await daemon.waitForExit(timeout: 20) == 0, "\(daemon.output)")
            #expect(try h.jobs() == Dictionary(uniqueKeysWithValues: orders.map { ($0, "succeeded/cancelled") }))
            #expect(try h.attempts() == Dictionary(uniqueKeysWithValues: orders.map { ($0, ["success/000"]) }))
            simulator.signal(SIGTERM)
            #expect(await simulator.waitForExit(timeout: 10) == 0)
        }
    }

    enum Refusal: String, CaseIterable, Sendable {
        case withoutCAFile, wrongHostName, expiredCertificate, serverOffersOnlyTLS11, httpsEndpointAtPlainHTTPServer

        /// What the attempt row says: each refusal for its own reason.
        var reason: String {
            switch self {
            case .withoutCAFile, .expiredCertificate: "certificate not trusted"
            case .wrongHostName: "the certificate is not for the endpoint's host name"
            case .serverOffersOnlyTLS11: "TLS 1.2 or later is required"
            case .httpsEndpointAtPlainHTTPServer: "the server does not speak TLS"
            }
        }
    }

    @Test("refused before anything is sent: the job does not succeed, the failure is recorded as TLS", arguments: Refusal.allCases)
    func refused(_ refusal: Refusal) async throws {
        try await withTemporaryDirectory { certificates in
            let ca = try TestCertificateAuthority()
            let files = try ca.write(
                into: certificates, name: "server",
                hosts: refusal == .wrongHostName ? ["otherhost.example"] : ["127.0.0.1", "localhost"],
                notValidBefore: Date() - (refusal == .expiredCertificate ? 172_800 : 3600),
                notValidAfter: Date() + (refusal == .expiredCertificate ? -86_400 : 86_400))
            let tls =
                refusal == .httpsEndpointAtPlainHTTPServer
                ? nil
                : try SimulatorTLS(
                    certificateFile: files.certificate, keyFile: files.key,
                    maximumVersion: refusal == .serverOffersOnlyTLS11 ? .tlsv11 : nil)
            try await DaemonHarness.withHarness(tls: tls) { h in
                try await h.migrate()
                try h.enqueue(["REFUSE-1"])
                let endpoint = h.simulator.endpoint.replacingOccurrences(of: "http://", with: "https://")
                let caFile = refusal == .withoutCAFile ? [] : ["--ca-file", files.ca]
                let daemon = try h.startDaemon(["--exit-when-idle", "--max-attempts", "1"] + caFile, endpoint: endpoint)
                #expect(await daemon.waitForExit(timeout: 20) == 0, "\(daemon.output)")
                #expect(try h.jobs() == ["REFUSE-1": "failed/gave-up"])
                let attempts = try h.attempts()["REFUSE-1"] ?? []
                #expect(attempts.count == 1, "\(attempts)")
                #expect(attempts.first?.hasPrefix("error: TLS failure: ") == true, "\(attempts)")
                #expect(attempts.first?.contains(refusal.reason) == true, "\(attempts)")
                #expect(attempts.first?.contains(".build/") == false, "source paths in an operator's message: \(attempts)")
                #expect(h.state.requests.isEmpty, "the gateway got a request: \(h.state.requests)")
                #expect(h.state.cancelledOrders.isEmpty)
            }
        }
    }

    @Test("a --ca-file that is missing, not a file, empty, garbage or a key is refused with one line, before anything starts")
    func badCAFileRefused() async throws {
        try await withTemporaryDirectory { dir in
            try Data("demo-key\n".utf8).write(to: URL(fileURLWithPath: dir + "/zeus-key"))
            chmod(dir + "/zeus-key", 0o600)
            try Data().write(to: URL(fileURLWithPath: dir + "/empty.pem"))
            try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: dir + "/garbage.pem"))
            let key = try TestCertificateAuthority().issue().keyPEM
            try Data(key.utf8).write(to: URL(fileURLWithPath: dir + "/key.pem"))
            let cases = [
                (dir + "/missing.pem", "does not exist"), (dir, "is not a regular file"),
                (dir + "/empty.pem", "holds no PEM certificate"), (dir + "/garbage.pem", "holds no PEM certificate"),
                (dir + "/key.pem", "holds no PEM certificate"),
            ]
            for (path, problem) in cases {
                for viaEnvironment in [false, true] {
                    let result = try await runCancelq(
                        [
                            "run", "--db", dir + "/queue.db", "--endpoint", "https://127.0.0.1:9/api", "--client-ip", "12345",
                            "--key-file", dir + "/zeus-key",
                        ] + (viaEnvironment ? [] : ["--ca-file", path]),
                        environment: viaEnvironment ? ["CANCELQ_CA_FILE": path] : [:])
                    #expect(result.status != 0, "\(path): accepted")
                    #expect(result.stderr.contains("--ca-file \(path): \(problem)"), "\(result.stderr)")
                    #expect(result.stderr.split(separator: "\n").count == 1, "not one line: \(result.stderr)")
                    #expect(!FileManager.default.fileExists(atPath: dir + "/queue.db"), "touched the database")
                }
            }
        }
    }

    @Test("gateway-sim takes --tls-cert and --tls-key together or not at all, and names a bad file")
    func simulatorTLSFlags() async throws {
        try await withTemporaryDirectory { dir in
            let files = try TestCertificateAuthority().write(into: dir, name: "server")
            for arguments in [["--tls-cert", files.certificate], ["--tls-key", files.key]] {
                let result = try await runCancelq(["gateway-sim", "--port", "0"] + arguments)
                #expect(result.status != 0)
                #expect(result.stderr.contains("--tls-cert and --tls-key go together"), "\(result.stderr)")
                #expect(result.stderr.split(separator: "\n").count == 1, "not one line: \(result.stderr)")
            }
            let swapped = try await runCancelq(
                ["gateway-sim", "--port", "0", "--tls-cert", files.key, "--tls-key", files.certificate])
            #expect(swapped.status != 0)
            #expect(swapped.stderr.contains("TLS file \(files.key): holds no PEM certificate"), "\(swapped.stderr)")
        }
    }
}
