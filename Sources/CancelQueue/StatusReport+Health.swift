import CancelCore

/// The verdict of `status --check` (and `/healthz`), judged once for every store from what the report read.
extension StatusReport.Health {
    /// `status --check`'s verdict, the same on every store.
    public static func judge(
        sending gate: StatusReport.Sending, overdueSeconds overdue: Double, recentFailed: Int, schemaProblems: [String],
        storageProblems: [String] = [], thresholds: HealthThresholds, now: Double
    ) -> Self {
        var reasons = storageProblems
        switch gate.mode {
        case .halted:
            reasons.append("sending halted: \(gate.reason ?? "credentials rejected")")
        case .paused:
            let pausedFor = now - (gate.since ?? now)
            if pausedFor > thresholds.maximumPause {
                let cause = gate.code == GateRow.unreachableCode ? "waiting for the unreachable gateway (no connection)" : "paused for maintenance"
                reasons.append(
                    "\(cause) for \(DurationText.describe(pausedFor)) (threshold \(DurationText.describe(thresholds.maximumPause)))")
            }
        case .held:
            let hold = gate.hold
            reasons.append(
                "sending held: more than \(hold?.holdAbove ?? 0) jobs were enqueued within \(DurationText.describe(hold?.windowSeconds ?? 0)); "
                    + "\(gate.waiting) job(s) wait. Check they are meant to be cancelled (cancelq status), withdraw wrong ones "
                    + "(cancelq withdraw), then release the rest with `cancelq approve`")
        case .open:
            if overdue > thresholds.maximumOverdue {
                reasons.append(
                    "the earliest due job is \(DurationText.describe(overdue)) late (threshold \(DurationText.describe(thresholds.maximumOverdue))): is cancelq run up?")
            }
        }
        reasons += schemaProblems.map { "schema: \($0)" }
        if recentFailed > 0 {
            reasons.append("\(recentFailed) job(s) failed in the last \(DurationText.describe(thresholds.failureWindow))")
        }
        return .init(status: reasons.isEmpty ? .ok : .attention, reasons: reasons)
    }
}

/// When `status --check` asks for attention.
public struct HealthThresholds: Sendable, Equatable {
    /// A maintenance pause longer than this (seconds since it began).
    public var maximumPause: Double
    /// The earliest due job late by more than this: the daemon is down or stuck.
    public var maximumOverdue: Double
    /// Failed jobs updated within this window count.
    public var failureWindow: Double

    public init(maximumPause: Double = 3600, maximumOverdue: Double = 300, failureWindow: Double = 86_400) {
        self.maximumPause = maximumPause
        self.maximumOverdue = maximumOverdue
        self.failureWindow = failureWindow
    }
}
