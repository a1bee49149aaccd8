import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP listener of `--metrics-listen`: `GET /metrics` and `GET /healthz`, nothing else. One
/// event-loop thread of its own, so scrapes (and the store reads they cause) never run on the
/// threads of the run loop or the gateway's HTTP client. Bounded against misuse: a request head
/// over `RequestBudget.limit` bytes, a body, or a client idle for `idleTimeout` are cut; past
/// `maximumConnections`, the connection waiting longest without completing a request is closed
/// for the newcomer (`ConnectionRegistry`), so a crowd of slow clients cannot keep a probe out.
public final class MetricsServer: Sendable {
    public let host: String
    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    public static let idleTimeout = TimeAmount.seconds(10)
    public static let maximumConnections = 32

    private init(host: String, port: Int, group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.host = host
        self.port = port
        self.group = group
        self.channel = channel
    }

    /// Binds `address`; throws `MetricsServerError` when it cannot (in use, not an address of this host).
    public static func start(at address: MetricsListenAddress, exporter: MetricsExporter) async throws(MetricsServerError)
        -> MetricsServer
    {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let registry = ConnectionRegistry(maximum: maximumConnections)
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let budget = RequestBudget()
                        let slot = ConnectionSlot(registry: registry)
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                        try sync.addHandler(slot)
                        try sync.addHandler(budget)
                        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                        try sync.addHandler(MetricsHTTPHandler(exporter: exporter, budget: budget, slot: slot))
                    }
                }
                .bind(host: address.host, port: address.port).get()
            let port = channel.localAddress?.port ?? address.port
            return MetricsServer(host: address.host, port: port, group: group, channel: channel)
        } catch {
            try? await group.shutdownGracefully()
            throw MetricsServerError(address: address, underlying: "\(error)")
        }
    }

    /// The URL of `/metrics`, for the log line.
    public var metricsURL: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "http://\(shown):\(port)/metrics"
    }

    /// Closes the listener and every connection.
    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// The listener could not start: said in one line, before the daemon sends anything.
public struct MetricsServerError: Error, CustomStringConvertible, Sendable {
    public let address: MetricsListenAddress
    public let underlying: String

    public var description: String {
        "--metrics-listen \(address): cannot listen (\(underlying)); is another process using the port, or is it not an address of this host?"
    }
}
