import CancelCore
import ZeusAPI

/// What came back for one request.
public enum TransportOutcome: Sendable, Equatable {
    /// HTTP 200 with a body the decoder understood.
    case answered(httpStatus: Int, PaymentReturnResponse)
    /// No usable answer: the outcome at the gateway is unknown.
    case failed(TransportFailure, httpStatus: Int?)
}

/// Sends one `payment_return` body. The daemon's only door to the network.
public protocol Transport: Sendable {
    /// `deadline` was fixed when the job was claimed: nothing of the request is written after it
    /// (a connection or TLS handshake still pending then is abandoned), and the answer must be in.
    func send(_ request: PaymentReturnRequest, deadline: ContinuousClock.Instant) async -> TransportOutcome
    func shutdown() async
}
