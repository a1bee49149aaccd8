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
    /// PostgreSQL: the live daemons sharing the queue (nil on SQLite, where one daemon holds a lock).
    public var daemons: [Daemon]?
    /// PostgreSQL: jobs whose daemon died with their request in flight, rescued by another, today.
    public var rescuedToday: Int?

    public init(
        generatedAt: Double, database: String, counts: [String: Int], total: Int, unfinished: Int,
        oldestUnfinished: JobSummary?, nextDue: DueJob?, overdueSeconds: Double, sending: Sending, today: Today,
        recentFailures: [Failure], health: Health, daemons: [Daemon]? = nil, rescuedToday: Int? = nil
    ) {
        self.generatedAt = generatedAt
        self.database = database
        self.counts = counts
        self.total = total
        self.unfinished = unfinished
        self.oldestUnfinished = oldestUnfinished
        self.nextDue = nextDue
        self.overdueSeconds = overdueSeconds
        self.sending = sending
        self.today = today
        self.recentFailures = recentFailures
        self.health = health
        self.daemons = daemons
        self.rescuedToday = rescuedToday
    }

    /// A daemon sharing a PostgreSQL queue, as its heartbeat row says.
    public struct Daemon: Codable, Sendable, Equatable {
        public var name: String
        public var host: String
        public var pid: Int
        public var startedAt: Double
        public var heartbeatAt: Double
        public var inFlight: Int

        public init(name: String, host: String, pid: Int, startedAt: Double, heartbeatAt: Double, inFlight: Int) {
            self.name = name
            self.host = host
            self.pid = pid
            self.startedAt = startedAt
            self.heartbeatAt = heartbeatAt
            self.inFlight = inFlight
        }

        enum CodingKeys: String, CodingKey {
            case name, host, pid
            case startedAt = "started_at"
            case heartbeatAt = "heartbeat_at"
            case inFlight = "in_flight"
        }
    }

    public struct JobSummary: Codable, Sendable, Equatable {
        public var orderNumber: String
        public var state: State
        public var createdAt: Double
        public var ageSeconds: Double

        public init(orderNumber: String, state: State, createdAt: Double, ageSeconds: Double) {
            self.orderNumber = orderNumber
            self.state = state
            self.createdAt = createdAt
            self.ageSeconds = ageSeconds
        }
    }

    public struct DueJob: Codable, Sendable, Equatable {
        public var orderNumber: String
        public var state: State
        public var dueAt: Double
        public var inSeconds: Double

        public init(orderNumber: String, state: State, dueAt: Double, inSeconds: Double) {
            self.orderNumber = orderNumber
            self.state = state
            self.dueAt = dueAt
            self.inSeconds = inSeconds
        }
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

        public init(enqueued: Int, holdAbove: Int, windowSeconds: Double, countedFrom: Double) {
            self.enqueued = enqueued
            self.holdAbove = holdAbove
            self.windowSeconds = windowSeconds
            self.countedFrom = countedFrom
        }

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

        public init(since: Double, succeeded: Int, failed: Int) {
            self.since = since
            self.succeeded = succeeded
            self.failed = failed
        }
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

        public init(
            orderNumber: String, outcome: Outcome?, status: String?, code: String?, meaning: String?, error: String?,
            attempts: Int, at: Double
        ) {
            self.orderNumber = orderNumber
            self.outcome = outcome
            self.status = status
            self.code = code
            self.meaning = meaning
            self.error = error
            self.attempts = attempts
            self.at = at
        }
    }

    public struct Health: Codable, Sendable, Equatable {
        public enum Verdict: String, Codable, Sendable {
            case ok, attention
        }
        public var status: Verdict
        public var reasons: [String]

        public init(status: Verdict, reasons: [String]) {
            self.status = status
            self.reasons = reasons
        }
    }

    enum CodingKeys: String, CodingKey {
        case schema, database, counts, total, unfinished, sending, today, health
        case generatedAt = "generated_at"
        case oldestUnfinished = "oldest_unfinished"
        case nextDue = "next_due"
        case overdueSeconds = "overdue_seconds"
        case recentFailures = "recent_failures"
        case daemons
        case rescuedToday = "rescued_today"
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
        try c.encode(daemons, forKey: .daemons)
        try c.encode(rescuedToday, forKey: .rescuedToday)
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
