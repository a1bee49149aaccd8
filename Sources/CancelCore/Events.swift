/// Why no answer came back. The outcome is unknown, so resending is safe: a second cancel of an
/// order the gateway did cancel answers `02180118`.
public enum TransportFailure: Hashable, Sendable, CustomStringConvertible {
    case timeout
    case connectionRefused
    case connectionReset
    case tls(String)
    case httpStatus(Int)
    case undecodableBody(String)
    case other(String)
    /// The request was never handed to the network (its claim's send deadline had passed): the
    /// gateway cannot have seen it.
    case notSent(String)
    /// No connection to the gateway could be made (timed out, no route, no such host): nothing of
    /// the request was written.
    case unreachable(String)

    public var description: String {
        switch self {
        case .timeout: "no answer before the request timeout"
        case .connectionRefused: "connection refused"
        case .connectionReset: "connection reset or closed before the answer"
        case .tls(let detail): "TLS failure: \(detail)"
        case .httpStatus(let status): "HTTP status \(status) instead of 200"
        case .undecodableBody(let detail): "answer body not understood: \(detail)"
        case .other(let detail): detail
        case .notSent(let reason): "not sent: \(reason)"
        case .unreachable(let reason): "not sent: the gateway could not be reached (\(reason))"
        }
    }
}

/// What can happen to one job while the daemon works on it. (An operator's requeue is
/// `CancellationJob.requeue()` and a withdrawal `withdraw()`: they decide nothing about sending.)
public enum JobEvent: Hashable, Sendable {
    /// The daemon saw the new row.
    case discovered
    /// Its due time came and sending is allowed.
    case due
    case answered(GatewayAnswer)
    case transportFailed(TransportFailure)
    /// The daemon started and found the job in `sent`: a previous run died mid-request.
    case recoveredAfterCrash
}

/// An event that cannot happen in the job's state: returned, never a crash.
public struct ImpossibleEvent: Error, Hashable, Sendable, CustomStringConvertible {
    public var state: State
    /// nil for an operator's requeue or a withdrawal (`command` names which).
    public var event: JobEvent?
    public var reason: String
    public var command = "requeue"

    public var description: String {
        "\(event.map { "\($0)" } ?? command) is not possible in state \(state.rawValue): \(reason)"
    }
}
