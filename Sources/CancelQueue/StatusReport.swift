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
