import CancelCore

/// The figures a status report is made of, each read by one statement of the driver, all in one
/// snapshot so that they agree. What the report says about them (what is unfinished or waiting,
/// how late the queue is, whether it needs attention) is decided once, in `StatusReport.init(figures:)`.
public struct StatusFigures: Sendable {
    /// What the driver is asked to read: the report's time and the windows its counts cover.
    public struct Question: Sendable {
        public var now: Double
        /// Today's counts start here (local midnight).
        public var startOfDay: Double
        /// Failed jobs changed since this need attention.
        public var failuresSince: Double
        /// How many of the latest failures are listed.
        public var failuresListed = 5

        public init(now: Double, startOfDay: Double, thresholds: HealthThresholds) {
            self.now = now
            self.startOfDay = startOfDay
            failuresSince = now - thresholds.failureWindow
        }
    }

    /// One job as a figure names it: its order, its state and the time that matters.
    public struct Job: Sendable, Equatable {
        public var orderNumber: String
        public var state: State
        public var at: Double

        public init(orderNumber: String, state: State, at: Double) {
            self.orderNumber = orderNumber
            self.state = state
            self.at = at
        }
    }

    /// Where the queue lives, as the report names it.
    public var database: String
    /// Jobs per state, from the trigger-kept counts.
    public var stateCounts: [State: Int]
    /// The oldest job not final (by id; `at` is its creation).
    public var oldestUnfinished: Job?
    /// The job awaiting a send that is due first (`at` is its due time).
    public var nextDue: Job?
    /// The stored gate's row and the last approval; nil when the row is missing.
    public var gate: GateRow?
    public var approvedAt: Double?
    /// Jobs now succeeded or failed whose last change was today.
    public var succeededToday: Int
    public var failedToday: Int
    /// Jobs now failed whose last change was at `Question.failuresSince` or later.
    public var failedRecently: Int
    /// The latest failures, newest first, as stored (the report adds each code's meaning).
    public var recentFailures: [StatusReport.Failure]
    /// What differs from the schema the migrations made; the storage running out.
    public var schemaProblems: [String]
    public var storageProblems: [String] = []
    /// The live daemons sharing the queue; nil where one daemon holds it alone (SQLite's lock).
    public var liveDaemons: [StatusReport.Daemon]?
    /// Attempts closed as "outcome unknown" by a rescue today; nil where nothing is rescued.
    public var rescuedToday: Int?
    /// Jobs in flight in a daemon that stopped heartbeating.
    public var orphanedInFlight = 0

    public init(
        database: String, stateCounts: [State: Int], oldestUnfinished: Job?, nextDue: Job?, gate: GateRow?, approvedAt: Double?,
        succeededToday: Int, failedToday: Int, failedRecently: Int, recentFailures: [StatusReport.Failure], schemaProblems: [String]
    ) {
        self.database = database
        self.stateCounts = stateCounts
        self.oldestUnfinished = oldestUnfinished
        self.nextDue = nextDue
        self.gate = gate
        self.approvedAt = approvedAt
        self.succeededToday = succeededToday
        self.failedToday = failedToday
        self.failedRecently = failedRecently
        self.recentFailures = recentFailures
        self.schemaProblems = schemaProblems
    }
}

extension StatusReport {
    /// The report the figures make, the same rules on every driver.
    public init(figures: StatusFigures, question: StatusFigures.Question, thresholds: HealthThresholds) throws(StoreError) {
        let now = question.now
        let stored = figures.stateCounts
        let counts = Dictionary(uniqueKeysWithValues: State.allCases.map { ($0.rawValue, stored[$0] ?? 0) })
        let unfinished = State.allCases.filter { !$0.isFinal }.reduce(0) { $0 + (stored[$1] ?? 0) }
        // What a hold keeps back: every unfinished job but those in flight.
        let waiting = State.allCases.filter { !$0.isFinal && $0 != .sent }.reduce(0) { $0 + (stored[$1] ?? 0) }
        let oldest = figures.oldestUnfinished.map {
            JobSummary(orderNumber: $0.orderNumber, state: $0.state, createdAt: $0.at, ageSeconds: now - $0.at)
        }
        let nextDue = figures.nextDue.map { DueJob(orderNumber: $0.orderNumber, state: $0.state, dueAt: $0.at, inSeconds: $0.at - now) }
        let sending = try figures.gate.map { row throws(StoreError) in try Sending(row: row, waiting: waiting, approvedAt: figures.approvedAt) }
            ?? Sending(mode: .open, maintenanceStreak: 0, waiting: waiting)
        let failures = figures.recentFailures.map { failure in
            var failure = failure
            failure.meaning = CodeTable.meaning(status: failure.status, code: failure.code)
            return failure
        }
        let overdue = max(0, now - (nextDue?.dueAt ?? now))
        // A dropped audit trigger or insert guard is not a healthy queue, however it runs.
        var health = Health.judge(
            sending: sending, overdueSeconds: overdue, recentFailed: figures.failedRecently, schemaProblems: figures.schemaProblems,
            storageProblems: figures.storageProblems, thresholds: thresholds, now: now)
        if let daemons = figures.liveDaemons, daemons.isEmpty, unfinished > 0 {
            health.status = .attention
            health.reasons.append("no cancelq run is alive on this queue (no heartbeat within its lease)")
        }
        if figures.orphanedInFlight > 0 {
            health.status = .attention
            health.reasons.append(
                "\(figures.orphanedInFlight) job(s) in flight in a daemon that stopped: a live daemon resends them (outcome unknown) once that daemon's lease has run out")
        }
        self.init(
            generatedAt: now, database: figures.database, counts: counts, total: counts.values.reduce(0, +), unfinished: unfinished,
            oldestUnfinished: oldest, nextDue: nextDue, overdueSeconds: overdue, sending: sending,
            today: Today(since: question.startOfDay, succeeded: figures.succeededToday, failed: figures.failedToday),
            recentFailures: failures, health: health, daemons: figures.liveDaemons, rescuedToday: figures.rescuedToday)
    }
}
