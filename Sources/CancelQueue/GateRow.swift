import CancelCore

/// The `sending_gate` row's columns as every store keeps them, and the gate they mean: one
/// mapping, so that SQLite and PostgreSQL store and read the same gate the same way.
public struct GateRow: Equatable, Sendable {
    public var mode: String
    public var pausedUntil: Double?
    public var maintenanceStreak: Int
    public var reason: String?
    public var code: String?
    public var since: Double?
    public var holdEnqueued: Int?
    public var holdAbove: Int?
    public var holdWindow: Double?
    public var holdCountedFrom: Double?

    /// `code` of a paused gate whose cause is an unreachable gateway, not maintenance.
    public static let unreachableCode = "unreachable"

    /// The columns in this order, for a SELECT (the stores add their own after them).
    public static let columns =
        "mode, paused_until, maintenance_streak, reason, code, since, hold_enqueued, hold_above, hold_window, hold_counted_from"

    public init(
        mode: String, pausedUntil: Double?, maintenanceStreak: Int, reason: String?, code: String?, since: Double?,
        holdEnqueued: Int?, holdAbove: Int?, holdWindow: Double?, holdCountedFrom: Double?
    ) {
        self.mode = mode
        self.pausedUntil = pausedUntil
        self.maintenanceStreak = maintenanceStreak
        self.reason = reason
        self.code = code
        self.since = since
        self.holdEnqueued = holdEnqueued
        self.holdAbove = holdAbove
        self.holdWindow = holdWindow
        self.holdCountedFrom = holdCountedFrom
    }

    /// The row that stores `gate` (the hold's columns empty unless it is held).
    public init(_ gate: SendingGate) {
        self.init(
            mode: gate.mode.rawValue, pausedUntil: nil, maintenanceStreak: 0, reason: nil, code: nil, since: nil,
            holdEnqueued: nil, holdAbove: nil, holdWindow: nil, holdCountedFrom: nil)
        switch gate {
        case .open:
            break
        case .paused(let until, let streak, let pausedSince):
            pausedUntil = until
            maintenanceStreak = streak
            reason = "the gateway answered maintenance"
            since = pausedSince
        case .unreachable(let until, let streak, let waitingSince):
            // A pause for status and older readers; the code marks its cause.
            pausedUntil = until
            maintenanceStreak = streak
            reason = "the gateway could not be reached (no connection)"
            code = Self.unreachableCode
            since = waitingSince
        case .halted(let halt, let haltedSince):
            reason = halt.explanation
            code = halt.code
            since = haltedSince
        case .testingCredentials(let halt, let haltedSince):
            // Still `halted` for status and for older readers; paused_until marks the test.
            reason = halt.explanation
            code = halt.code
            since = haltedSince
            pausedUntil = haltedSince
        case .held(let surge, let heldSince):
            reason = "surge: \(surge)"
            since = heldSince
            holdEnqueued = surge.enqueued
            holdAbove = surge.holdAbove
            holdWindow = surge.window
            holdCountedFrom = surge.countedFrom
        }
    }

    /// The gate this row stores. An unknown mode (an edited row, a newer binary) is an error.
    public func gate() throws(StoreError) -> SendingGate {
        switch try stored(mode, as: SendingGate.Mode.self, column: "sending_gate.mode") {
        case .open:
            return .open
        case .paused:
            let streak = min(max(1, maintenanceStreak), Int.max - 1)
            if code == Self.unreachableCode { return .unreachable(until: pausedUntil ?? 0, streak: streak, since: since ?? 0) }
            return .paused(until: pausedUntil ?? 0, streak: streak, since: since ?? 0)
        case .halted:
            let halt = HaltReason(code: code ?? "", explanation: reason ?? "halted")
            return pausedUntil == nil ? .halted(halt, since: since ?? 0) : .testingCredentials(halt, since: since ?? 0)
        case .held:
            let surge = Surge(
                enqueued: holdEnqueued ?? 0, window: holdWindow ?? 0, holdAbove: holdAbove ?? 0, countedFrom: holdCountedFrom ?? 0)
            return .held(surge, since: since ?? 0)
        }
    }
}

extension StatusReport.Sending {
    /// What `status` shows of a stored gate row, with the jobs an approval would release.
    public init(row: GateRow, waiting: Int, approvedAt: Double?) throws(StoreError) {
        let mode = try stored(row.mode, as: SendingGate.Mode.self, column: "sending_gate.mode")
        let hold =
            mode == .held
            ? StatusReport.Hold(
                enqueued: row.holdEnqueued ?? 0, holdAbove: row.holdAbove ?? 0, windowSeconds: row.holdWindow ?? 0,
                countedFrom: row.holdCountedFrom ?? 0)
            : nil
        self.init(
            mode: mode, since: row.since, pausedUntil: row.pausedUntil, maintenanceStreak: row.maintenanceStreak, reason: row.reason,
            code: row.code, hold: hold, waiting: waiting, approvedAt: approvedAt)
    }
}
