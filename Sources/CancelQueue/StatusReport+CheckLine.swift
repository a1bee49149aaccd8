import CancelCore
import ZeusAPI

/// The verdict in one line, as `status --check` prints it and `/healthz` answers it.
extension StatusReport {
    public var checkLine: String {
        if health.status == .ok {
            let next = nextDue.map { $0.inSeconds > 0 ? ", next due in \(DurationText.describe($0.inSeconds))" : ", next due now" } ?? ""
            return "OK - \(unfinished) unfinished\(next), sending \(sending.mode.rawValue)"
        }
        return "ATTENTION - " + health.escapedReasons
    }
}

extension StatusReport.Health {
    /// The reasons, each escaped: they quote stored text (a halt's reason, a schema object's name).
    public var escapedReasons: String {
        reasons.map { LogText.escaped($0, limit: 1000) }.joined(separator: "; ")
    }
}
