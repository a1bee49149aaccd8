import CancelCore

/// Everything `cancelq status` shows, read in one snapshot. Its JSON form is a documented
/// contract (README, "status --json"): fields are added, never renamed or removed.
public struct StatusReport: Codable, Sendable, Equatable {
    public var schema = 1
    public var generatedAt: Double
    public var database: String
    /// Jobs per state, every state present (keyed by the state's name, as in the database).
    public var counts: [String: Int]
    public var total: Int
    public var unfinished: Int
    public var oldestUnfinished: JobSummary?
    public var nextDue: DueJob?
    /// How late the earliest due job is (0 when none is due): the daemon is stopped or stuck when this grows.
    public var overdueSeconds: Double
    public var sending: Sending
    public var today: Today
    public var recentFailures: [Failure]
    public var health: Health

    public struct JobSummary: Codable, Sendable, Equatable {
        public var orderNumber: String
        public var state: State
        public var createdAt: Double
        public var ageSeconds: Double
    }

    public struct DueJob: Codable, Sendable, Equatable {
        public var orderNumber: String
        public var state: State
        public var dueAt: Double
        public var inSeconds: Double
    }

    public struct Sending: Codable, Sendable, Equatable {
        /// `open`, `paused` (maintenance), `halted` (credentials rejected) or `held` (surge).
        public var mode: SendingGate.Mode
        public var since: Double?
        public var pausedUntil: Double?
        public var maintenanceStreak: Int
        public var reason: String?
        public var code: String?
        /// While `held`: what started the hold.
        public var hold: Hold?
        /// Jobs waiting to be sent (what an approval would release).
        public var waiting: Int = 0
        /// The last `cancelq approve`: jobs enqueued before it do not count toward a surge.
        public var approvedAt: Double?

        public init(
            mode: SendingGate.Mode, since: Double? = nil, pausedUntil: Double? = nil, maintenanceStreak: Int,
            reason: String? = nil, code: String? = nil, hold: Hold? = nil, waiting: Int = 0, approvedAt: Double? = nil
        ) {
            self.mode = mode
            self.since = since
            self.pausedUntil = pausedUntil
            self.maintenanceStreak = maintenanceStreak
            self.reason = reason
            self.code = code
            self.hold = hold
            self.waiting = waiting
            self.approvedAt = approvedAt
        }
    }

    /// A surge hold: more than `holdAbove` jobs enqueued within `windowSeconds`.
    public struct Hold: Codable, Sendable, Equatable {
        /// Jobs counted when the hold began (counting stops one past the limit).
        public var enqueued: Int
        public var holdAbove: Int
        public var windowSeconds: Double
        /// Where counting began: the window's start, or the last approval.
        public var countedFrom: Double

        enum CodingKeys: String, CodingKey {
            case enqueued
            case holdAbove = "hold_above"
            case windowSeconds = "window_seconds"
            case countedFrom = "counted_from"
        }
    }

    public struct Today: Codable, Sendable, Equatable {
        /// Local midnight, unix seconds.
        public var since: Double
        public var succeeded: Int
        public var failed: Int
    }

    public struct Failure: Codable, Sendable, Equatable {
        public var orderNumber: String
        public var outcome: Outcome?
        public var status: String?
        public var code: String?
        public var meaning: String?
        public var error: String?
        public var attempts: Int
        public var at: Double
    }

    public struct Health: Codable, Sendable, Equatable {
        public enum Verdict: String, Codable, Sendable {
            case ok, attention
        }
        public var status: Verdict
        public var reasons: [String]
    }

    enum CodingKeys: String, CodingKey {
        case schema, database, counts, total, unfinished, sending, today, health
        case generatedAt = "generated_at"
        case oldestUnfinished = "oldest_unfinished"
        case nextDue = "next_due"
        case overdueSeconds = "overdue_seconds"
        case recentFailures = "recent_failures"
    }
}

extension StatusReport.JobSummary {
    enum CodingKeys: String, CodingKey {
        case state
        case orderNumber = "order_number"
        case createdAt = "created_at"
        case ageSeconds = "age_seconds"
    }
}

extension StatusReport.DueJob {
    enum CodingKeys: String, CodingKey {
        case state
        case orderNumber = "order_number"
        case dueAt = "due_at"
        case inSeconds = "in_seconds"
    }
}

extension StatusReport.Sending {
    enum CodingKeys: String, CodingKey {
        case mode, since, reason, code, hold, waiting
        case pausedUntil = "paused_until"
        case maintenanceStreak = "maintenance_streak"
        case approvedAt = "approved_at"
    }
}

extension StatusReport.Failure {
    enum CodingKeys: String, CodingKey {
        case outcome, status, code, meaning, error, attempts, at
        case orderNumber = "order_number"
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

// The JSON of `status` is a documented contract: every field is written, `null` included
// (synthesized Codable leaves out nil fields).
extension StatusReport {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encode(generatedAt, forKey: .generatedAt)
        try c.encode(database, forKey: .database)
        try c.encode(counts, forKey: .counts)
        try c.encode(total, forKey: .total)
        try c.encode(unfinished, forKey: .unfinished)
        try c.encode(oldestUnfinished, forKey: .oldestUnfinished)
        try c.encode(nextDue, forKey: .nextDue)
        try c.encode(overdueSeconds, forKey: .overdueSeconds)
        try c.encode(sending, forKey: .sending)
        try c.encode(today, forKey: .today)
        try c.encode(recentFailures, forKey: .recentFailures)
        try c.encode(health, forKey: .health)
    }
}

extension StatusReport.Sending {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mode, forKey: .mode)
        try c.encode(since, forKey: .since)
        try c.encode(pausedUntil, forKey: .pausedUntil)
        try c.encode(maintenanceStreak, forKey: .maintenanceStreak)
        try c.encode(reason, forKey: .reason)
        try c.encode(code, forKey: .code)
        try c.encode(hold, forKey: .hold)
        try c.encode(waiting, forKey: .waiting)
        try c.encode(approvedAt, forKey: .approvedAt)
    }
}

extension StatusReport.Failure {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(orderNumber, forKey: .orderNumber)
        try c.encode(outcome, forKey: .outcome)
        try c.encode(status, forKey: .status)
        try c.encode(code, forKey: .code)
        try c.encode(meaning, forKey: .meaning)
        try c.encode(error, forKey: .error)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(at, forKey: .at)
    }
}
