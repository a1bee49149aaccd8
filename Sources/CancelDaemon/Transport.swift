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
    func send(_ request: PaymentReturnRequest) async -> TransportOutcome
    func shutdown() async
}
