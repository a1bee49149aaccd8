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
    private let slot: ConnectionSlot
    private var head: HTTPRequestHead?
    private var hasBody = false
    /// The previous request's answer, written: with pipelining, answers leave in request order
    /// even though each waits for the store.
    private var previous: EventLoopFuture<Void>?

    init(exporter: MetricsExporter, budget: RequestBudget, slot: ConnectionSlot) {
        self.exporter = exporter
        self.budget = budget
        self.slot = slot
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
            slot.requestCompleted()
            let promise = context.eventLoop.makePromise(of: Answer.self)
            promise.completeWithTask { [exporter, hasBody] in await Self.answer(head, hasBody: hasBody, exporter: exporter) }
            let ready = previous.map { $0.and(promise.futureResult).map(\.1) } ?? promise.futureResult
            previous = ready.assumeIsolated().map { answer in
                self.respond(context, head: head, answer: answer)
                self.slot.answerWritten()
            }.nonisolated()
        }
    }

    struct Answer: Sendable {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]
        var extraHeaders: [(String, String)] = []
    }

    private static let plain = "text/plain; charset=utf-8"
    /// The Prometheus text format, version 0.0.4.
    private static let exposition = "text/plain; version=0.0.4; charset=utf-8"

    private static func answer(_ head: HTTPRequestHead, hasBody: Bool, exporter: MetricsExporter) async -> Answer {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let known = path == "/metrics" || path == "/healthz"
        guard known else { return Answer(status: .notFound, contentType: plain, body: Array("not found: only /metrics and /healthz\n".utf8)) }
        guard head.method == .GET || head.method == .HEAD else {
            return Answer(status: .methodNotAllowed, contentType: plain, body: Array("only GET\n".utf8), extraHeaders: [("Allow", "GET, HEAD")])
        }
        if hasBody {
            return Answer(
                status: .payloadTooLarge, contentType: plain, body: Array("a GET carries no body\n".utf8), extraHeaders: [("Connection", "close")])
        }
        if path == "/metrics" { return Answer(status: .ok, contentType: exposition, body: await exporter.scrape()) }
        let health = await exporter.health()
        return Answer(status: health.healthy ? .ok : .serviceUnavailable, contentType: plain, body: Array((health.line + "\n").utf8))
    }

    private func respond(_ context: ChannelHandlerContext, head: HTTPRequestHead, answer: Answer) {
        // The client may have gone while the store was read.
        guard context.channel.isActive else { return }
        let (status, contentType, body, extraHeaders) = (answer.status, answer.contentType, answer.body, answer.extraHeaders)
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
