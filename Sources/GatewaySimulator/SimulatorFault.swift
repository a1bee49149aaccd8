/// A misbehaviour the simulator applies to the next requests of one order (or of every order).
public enum SimulatorFault: Hashable, Sendable {
    /// Answer this status and code instead of processing (e.g. `failure`/`02189999`).
    case answer(status: String, code: String)
    /// Process normally, answer after this many seconds.
    case delay(Double)
    /// Process the cancellation, then never answer: the answer is lost.
    case hang
    /// Process the cancellation, then close the connection without answering.
    case cut
    /// Process the cancellation, send the 200 head (with the full Content-Length) at once, then the
    /// answer one byte every this many seconds: a read timeout never fires, only a whole-request deadline.
    case trickle(Double)
    /// Answer an HTML error page (as a proxy in front of the gateway might); not processed.
    case html
    /// Answer bytes that are not XML; not processed.
    case garbage
    /// Answer this HTTP status with a 70 KiB error page (a proxy or load balancer failing); not processed.
    case httpStatus(Int)

    /// Parses the control API's `kind` (with `code`, `status`, `seconds` where they apply).
    public init?(kind: String, status: String?, code: String?, seconds: Double?) {
        switch kind {
        case "failure": self = .answer(status: "failure", code: code ?? "02189999")
        case "not-found": self = .answer(status: "invalid", code: "02180114")
        case "maintenance": self = .answer(status: "maintenance", code: code ?? "02000012")
        case "answer":
            guard let status, let code else { return nil }
            self = .answer(status: status, code: code)
        case "delay":
            guard let seconds, seconds >= 0 else { return nil }
            self = .delay(seconds)
        case "hang": self = .hang
        case "cut": self = .cut
        case "trickle":
            let interval = seconds ?? 0.5
            guard interval > 0, interval.isFinite else { return nil }
            self = .trickle(interval)
        case "html": self = .html
        case "garbage": self = .garbage
        case "status":
            guard let code, let status = Int(code), (100...599).contains(status) else { return nil }
            self = .httpStatus(status)
        default: return nil
        }
    }
}

/// What the simulator does with one request.
public enum SimulatedReply: Hashable, Sendable {
    /// An XML answer of the spec's shape, after `delay` seconds.
    case xml(status: String, code: String, delay: Double)
    /// Any other body (HTML, garbage, control API text).
    case raw(httpStatus: Int, contentType: String, body: [UInt8], delay: Double)
    case hang
    case cut
    /// A 200 with this XML answer, its body one byte every `interval` seconds.
    case trickle(status: String, code: String, interval: Double)
}

/// One request the gateway endpoint received, for tests to compare with the audit trail.
public struct ReceivedRequest: Hashable, Sendable {
    public var sequence: Int
    /// The order number, when the request got far enough to carry one.
    public var orderNumber: String?
    /// What it was answered (`hang`, `cut` and `trickle` included), as `status/code` or the fault's name.
    public var answer: String
    /// Whether the simulator cancelled the order while handling it.
    public var cancelled: Bool
    /// Monotonic seconds when it arrived (for spacing checks), not wall time.
    public var at: Double
}
