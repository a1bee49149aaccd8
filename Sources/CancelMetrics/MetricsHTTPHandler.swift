import NIOCore
import NIOHTTP1

/// One connection of the metrics listener: `GET /metrics`, `GET /healthz`; 405 for any other
/// method, 404 for any other path, 413 for a request with a body. Answers are fixed texts or the
/// exporter's output: nothing of the request is ever echoed back.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let exporter: MetricsExporter
    private let budget: RequestBudget
    private var head: HTTPRequestHead?
    private var hasBody = false

    init(exporter: MetricsExporter, budget: RequestBudget) {
        self.exporter = exporter
        self.budget = budget
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            hasBody = false
        case .body:
            hasBody = true  // dropped unread; answered 413 at the end
        case .end:
            budget.requestCompleted()
            guard let head else { return }
            self.head = nil
            let (status, contentType, body, extra) = answer(head)
            respond(context, head: head, status: status, contentType: contentType, body: body, extraHeaders: extra)
        }
    }

    private static let plain = "text/plain; charset=utf-8"
    /// The Prometheus text format, version 0.0.4.
    private static let exposition = "text/plain; version=0.0.4; charset=utf-8"

    private func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String, [UInt8], [(String, String)]) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let known = path == "/metrics" || path == "/healthz"
        guard known else { return (.notFound, Self.plain, Array("not found: only /metrics and /healthz\n".utf8), []) }
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, Self.plain, Array("only GET\n".utf8), [("Allow", "GET, HEAD")])
        }
        if hasBody { return (.payloadTooLarge, Self.plain, Array("a GET carries no body\n".utf8), [("Connection", "close")]) }
        if path == "/metrics" { return (.ok, Self.exposition, exporter.scrape(), []) }
        let health = exporter.health()
        return (health.healthy ? .ok : .serviceUnavailable, Self.plain, Array((health.line + "\n").utf8), [])
    }

    private func respond(
        _ context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String, body: [UInt8],
        extraHeaders: [(String, String)]
    ) {
        let close = !head.isKeepAlive || extraHeaders.contains { $0.0 == "Connection" }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        for (name, value) in extraHeaders where name != "Connection" { headers.add(name: name, value: value) }
        if close { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close {
            done.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
