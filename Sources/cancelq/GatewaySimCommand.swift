import ArgumentParser
import CancelDaemon
import GatewaySimulator
import Logging
import ServiceLifecycle

struct GatewaySimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway-sim",
        abstract: "Run a local stand-in for the ZEUS payment_return endpoint (for tests, demos and integrators).",
        discussion: """
            Validates requests as the spec says (method, Content-Type, Content-Length, sizes, XML,
            action, credentials, order) and remembers cancelled orders. Prints the URL it listens on.
            Control it over HTTP under /_sim/ (see README): maintenance, failures, delays, lost answers,
            slow answers. With --tls-cert and --tls-key it serves HTTPS instead (endpoint and control API);
            give `cancelq run --ca-file` the CA that signed the certificate.
            """)

    @Option(help: "Address to listen on (loopback by default).")
    var host = "127.0.0.1"

    @Option(help: "Port; 0 picks a free one (printed).")
    var port = 0

    @Option(name: .customLong("client-ip"), help: "The IP code the simulator accepts.")
    var clientIP = "12345"

    @Option(name: .customLong("key-file"), help: "File holding the key the simulator accepts. Default: the key \"demo-key\".")
    var keyFile: String?

    @Option(help: "Seconds to wait before every answer.")
    var latency = 0.0

    @Flag(help: "Start in maintenance (every request answers maintenance/02000012).")
    var maintenance = false

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("Serve HTTPS with this PEM certificate (chain, leaf first); needs --tls-key.", valueName: "pem"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The PEM private key of --tls-cert; needs --tls-cert.", valueName: "pem"))
    var tlsKey: String?

    func run() async throws {
        let tls: SimulatorTLS?
        switch (tlsCert, tlsKey) {
        case (let certificate?, let key?):
            tls = try SimulatorTLS(certificateFile: certificate, keyFile: key)
        case (nil, nil):
            tls = nil
        case (.some, nil), (nil, .some):
            throw CommandFailure("--tls-cert and --tls-key go together: pass both for HTTPS, or neither for plain HTTP")
        }
        let key = try keyFile.map { try KeyFile.load(path: $0).key.secret } ?? "demo-key"
        let state = SimulatorState(clientIP: clientIP, key: key, latency: latency, maintenance: maintenance)
        let simulator = try await GatewaySimulator.start(state: state, host: host, port: port, tls: tls)
        emit("gateway-sim listening on \(simulator.endpoint)")
        emit("control: curl \(tls == nil ? "" : "--cacert CA.pem ")-X POST '\(simulator.baseURL)/_sim/maintenance?on=1' (see README)")
        let logger = Logger(label: "gateway-sim")
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: SimulatorService(simulator: simulator))],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Keeps the simulator up until SIGTERM/SIGINT.
struct SimulatorService: Service {
    let simulator: GatewaySimulator

    func run() async throws {
        try? await gracefulShutdown()
        await simulator.stop()
    }
}
