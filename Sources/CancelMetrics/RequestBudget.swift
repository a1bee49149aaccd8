import NIOCore

/// Counts the raw bytes of the request being read, before the HTTP decoder sees them: a scrape is
/// a few hundred bytes, so a head larger than `limit` is cut with 431, without buffering it.
/// `MetricsHTTPHandler` resets the count when a request is complete (keep-alive reuses connections).
final class RequestBudget: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let limit = 8192
    private var used = 0
    private var exceeded = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !exceeded else { return }
        used += unwrapInboundIn(data).readableBytes
        guard used <= Self.limit else {
            exceeded = true
            // Written below the HTTP encoder: the request was never decoded, so answer it here.
            let text = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            let buffer = context.channel.allocator.buffer(string: text)
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { [channel = context.channel] _ in
                channel.close(promise: nil)
            }
            return
        }
        context.fireChannelRead(data)
    }

    func requestCompleted() { used = 0 }
}
