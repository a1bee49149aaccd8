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
            Control it over HTTP under /_sim/ (see README): maintenance, failures, delays, lost answers.
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

    func run() async throws {
        let key = try keyFile.map { try KeyFile.load(path: $0).key.secret } ?? "demo-key"
        let state = SimulatorState(clientIP: clientIP, key: key, latency: latency, maintenance: maintenance)
        let simulator = try await GatewaySimulator.start(state: state, host: host, port: port)
        emit("gateway-sim listening on \(simulator.endpoint)")
        emit("control: curl -X POST 'http://\(host):\(simulator.port)/_sim/maintenance?on=1' (see README)")
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
