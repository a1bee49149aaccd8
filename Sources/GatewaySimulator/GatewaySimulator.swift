import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A local stand-in for the ZEUS `payment_return` endpoint, faithful to the spec's validation.
///
/// Every path answers as the gateway except `/_sim/...`, the control API (see README). Binds to
/// loopback; port 0 picks a free port, readable from `port`. Serves HTTPS when given `tls`.
public final class GatewaySimulator: Sendable {
    public let state: SimulatorState
    public let host: String
    public let port: Int
    public let isTLS: Bool
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    private init(
        state: SimulatorState, host: String, port: Int, isTLS: Bool, group: MultiThreadedEventLoopGroup, channel: any Channel
    ) {
        self.state = state
        self.host = host
        self.port = port
        self.isTLS = isTLS
        self.group = group
        self.channel = channel
    }

    public static func start(
        state: SimulatorState, host: String = "127.0.0.1", port: Int = 0, tls: SimulatorTLS? = nil
    ) async throws -> GatewaySimulator {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context))
                        }
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(GatewayHandler(state: state))
                    }
                }
                .bind(host: host, port: port).get()
            let boundPort = channel.localAddress?.port ?? port
            return GatewaySimulator(
                state: state, host: host, port: boundPort, isTLS: tls != nil, group: group, channel: channel)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// The URL to give `cancelq run --endpoint`.
    public var endpoint: String { baseURL + "/cgi-bin/secure/api.cgi" }

    /// Scheme, host and port; the control API is under `/_sim/`.
    public var baseURL: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(isTLS ? "https" : "http")://\(shownHost):\(port)"
    }

    /// Closes the listener and every connection, including hanging ones.
    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// One connection: collects a request, asks `SimulatorState` what to do, does it.
final class GatewayHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: SimulatorState
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var received = 0

    init(state: SimulatorState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
            received = 0
        case .body(var buffer):
            received += buffer.readableBytes
            // Keep a little past the limit: enough to judge, bounded against abuse.
            let room = max(0, 65_536 - body.count)
            if let bytes = buffer.readBytes(length: min(room, buffer.readableBytes)) { body += bytes }
        case .end:
            guard let head else { return }
            self.head = nil
            if head.uri.hasPrefix("/_sim/") {
                let (status, text) = SimulatorControl.handle(method: head.method, uri: head.uri, state: state)
                write(context, head: head, status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8), delay: 0)
                return
            }
            let reply = state.reply(
                method: head.method.rawValue, contentType: head.headers["Content-Type"],
                contentLength: head.headers["Content-Length"], body: body, bodyBytes: received)
            switch reply {
            case .xml(let status, let code, let delay):
                write(context, head: head, status: .ok, contentType: "application/xml; charset=utf-8",
                      body: SimulatorState.answerBody(status: status, code: code), delay: delay)
            case .raw(let httpStatus, let contentType, let bytes, let delay):
                write(context, head: head, status: HTTPResponseStatus(statusCode: httpStatus), contentType: contentType,
                      body: bytes, delay: delay)
            case .hang:
                break  // The connection stays open, unanswered, until the client gives up.
            case .cut:
                context.close(promise: nil)
            case .trickle(let status, let code, let interval):
                trickle(context, head: head, body: SimulatorState.answerBody(status: status, code: code), interval: interval)
            }
        }
    }

    private func write(
        _ context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String,
        body: [UInt8], delay: Double
    ) {
        let keepAlive = head.isKeepAlive
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let responseHead = HTTPResponseHead(version: head.version, status: status, headers: headers)
        let send: @Sendable (ChannelHandlerContext) -> Void = { context in
            context.write(NIOAny(HTTPServerResponsePart.head(responseHead)), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
            let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
            if !keepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
        guard delay > 0 else {
            send(context)
            return
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .nanoseconds(Int64(delay * 1e9))) {
            guard bound.value.channel.isActive else { return }
            send(bound.value)
        }
    }

    /// The head with the full length at once, then the body one byte per `interval`.
    private func trickle(_ context: ChannelHandlerContext, head: HTTPRequestHead, body: [UInt8], interval: Double) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/xml; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.count))
        let responseHead = HTTPResponseHead(version: head.version, status: .ok, headers: headers)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.head(responseHead)), promise: nil)
        Self.drip(NIOLoopBound(context, eventLoop: context.eventLoop), body, from: 0, every: .nanoseconds(Int64(interval * 1e9)))
    }

    private static func drip(
        _ bound: NIOLoopBound<ChannelHandlerContext>, _ body: [UInt8], from index: Int, every interval: TimeAmount
    ) {
        bound.value.eventLoop.scheduleTask(in: interval) {
            let context = bound.value
            // The client gave up (its deadline): stop, as a real server would on a closed socket.
            guard context.channel.isActive else { return }
            var buffer = context.channel.allocator.buffer(capacity: 1)
            buffer.writeInteger(body[index])
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
            if index + 1 < body.count {
                drip(bound, body, from: index + 1, every: interval)
            } else {
                context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
