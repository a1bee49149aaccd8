import CancelCore

/// Label values come from fixed sets only: a gateway answer can hold any text, and an unbounded
/// label would grow Prometheus's memory without end (or carry an order number into it).
public enum LabelValues {
    static let statuses: Set<String> = ["success", "failure", "invalid", "maintenance"]
    public static let other = "other"

    /// The answer's `result/status`, or `other`.
    public static func status(_ status: String) -> String { statuses.contains(status) ? status : other }

    /// A code of the gateway's code table, or `other`.
    public static func code(_ code: String) -> String { CodeTable.meaning(of: code) != nil ? code : other }

    /// The kind of a transport failure, without its detail text (which may quote the gateway).
    public static func kind(_ failure: TransportFailure) -> String {
        switch failure {
        case .timeout: "timeout"
        case .connectionRefused: "connection-refused"
        case .connectionReset: "connection-reset"
        case .tls: "tls"
        case .httpStatus: "http-status"
        case .undecodableBody: "undecodable-body"
        case .notSent: "not-sent"
        case .unreachable: "unreachable"
        case .other: other
        }
    }

    /// Every kind `kind(_:)` can return, so each series exists (at 0) from the start.
    static let kinds = ["timeout", "connection-refused", "connection-reset", "tls", "http-status", "undecodable-body", "not-sent", "unreachable", other]

    /// A daemon's name as `--node-name` allows it (printable ASCII without spaces, at most 100
    /// bytes): anything else in the shared table is shown with `_` in its place.
    public static func node(_ name: String) -> String {
        let kept = name.unicodeScalars.prefix(100).map { (0x21...0x7E).contains($0.value) ? Character($0) : "_" }
        return kept.isEmpty ? "_" : String(kept)
    }

    /// At most this many `cancelq_daemon_info` series: a table filled with names cannot grow Prometheus without end.
    public static let maximumDaemons = 64
}
