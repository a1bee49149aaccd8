import NIOCore

/// Counts the raw bytes of the request being read, before the HTTP decoder sees them: a scrape is
/// a few hundred bytes, so a head larger than `limit` is cut with 431, without buffering it. And
/// a request must be whole within `deadline` of its first byte: a client trickling a byte now and
/// then (which keeps the idle timer from firing) is cut, so a few of them cannot hold every
/// connection slot. `MetricsHTTPHandler` resets both when a request is complete (keep-alive
/// reuses connections).
final class RequestBudget: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let limit = 8192
    static let deadline = TimeAmount.seconds(10)
    private var used = 0
    private var exceeded = false
    private var cutOff: Scheduled<Void>?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !exceeded else { return }
        if cutOff == nil {
            let channel = context.channel
            cutOff = context.eventLoop.scheduleTask(in: Self.deadline) { channel.close(promise: nil) }
        }
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

    func requestCompleted() {
        used = 0
        cutOff?.cancel()
        cutOff = nil
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cutOff?.cancel()
        cutOff = nil
    }
}
