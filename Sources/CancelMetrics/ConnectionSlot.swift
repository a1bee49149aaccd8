import NIOCore

/// One connection's place in its listener's `ConnectionRegistry`: taken when it opens (another
/// connection may be closed to make room, see there), given back when it closes. Also lets go of a
/// client idle for the `IdleStateHandler`'s timeout.
final class ConnectionSlot: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private let registry: ConnectionRegistry
    private let id: Int

    init(registry: ConnectionRegistry) {
        self.registry = registry
        self.id = registry.reserveID()
    }

    func channelActive(context: ChannelHandlerContext) {
        switch registry.admit(id, context.channel) {
        case .admitted(let closing):
            closing?.close(promise: nil)
            context.fireChannelActive()
        case .refused:
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        registry.remove(id)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // IdleStateHandler's signal: a client that sends nothing (or half a request) is let go.
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A request is whole: not to be closed for a newcomer until it is answered.
    func requestCompleted() { registry.requestCompleted(id) }

    /// Its answer is written (or the client left before it was).
    func answerWritten() { registry.answerWritten(id) }
}
