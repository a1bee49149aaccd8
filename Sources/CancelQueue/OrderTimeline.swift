import CancelCore

/// One job and its whole audit trail, for `cancelq status --order`.
public struct OrderTimeline: Codable, Sendable, Equatable {
    public var id: Int64
    public var orderNumber: String
    public var state: State
    public var outcome: Outcome?
    public var paidAt: Double?
    public var createdAt: Double
    public var updatedAt: Double
    public var dueAt: Double?
    public var attemptCount: Int
    public var attempts: [Attempt]
    public var operatorActions: [OperatorAction]
    /// Withdrawals by the application or an operator (`cancellation_withdrawals`), with their reason.
    public var withdrawals: [Withdrawal] = []

    public struct Attempt: Codable, Sendable, Equatable {
        public var attempt: Int
        public var startedAt: Double
        public var completedAt: Double?
        public var httpStatus: Int?
        public var status: String?
        public var code: String?
        public var meaning: String?
        public var error: String?
        public var counted: Bool?

        enum CodingKeys: String, CodingKey {
            case attempt, status, code, meaning, error, counted
            case startedAt = "started_at"
            case completedAt = "completed_at"
            case httpStatus = "http_status"
        }
    }

    public struct OperatorAction: Codable, Sendable, Equatable {
        public var at: Double
        public var action: String
        public var detail: String?
        /// The login behind sudo, else the user; nil for actions recorded before it was kept.
        public var `operator`: String?

        public init(at: Double, action: String, detail: String?, operator who: String? = nil) {
            self.at = at
            self.action = action
            self.detail = detail
            self.operator = who
        }
    }

    public struct Withdrawal: Codable, Sendable, Equatable {
        public var at: Double
        public var reason: String?

        public init(at: Double, reason: String?) {
            self.at = at
            self.reason = reason
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, state, outcome, attempts
        case orderNumber = "order_number"
        case paidAt = "paid_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case dueAt = "due_at"
        case attemptCount = "attempt_count"
        case operatorActions = "operator_actions"
        case withdrawals
    }
}

extension OrderTimeline {
    /// The job as read, its attempts and the operators' actions on it.
    public init(record: JobRecord, attempts: [Attempt], operatorActions: [OperatorAction], withdrawals: [Withdrawal]) {
        id = record.id
        orderNumber = record.orderNumber
        state = record.state
        outcome = record.job.outcome
        paidAt = record.job.paidAt
        createdAt = record.createdAt
        updatedAt = record.updatedAt
        dueAt = record.job.dueAt
        attemptCount = record.job.attemptCount
        self.attempts = attempts
        self.operatorActions = operatorActions
        self.withdrawals = withdrawals
    }
}

extension OrderTimeline.Attempt {
    /// An attempt row; the meaning of its code comes from the code table.
    public init(
        attempt: Int, startedAt: Double, completedAt: Double?, httpStatus: Int?, status: String?, code: String?,
        error: String?, counted: Bool?
    ) {
        self.attempt = attempt
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.httpStatus = httpStatus
        self.status = status
        self.code = code
        self.meaning = CodeTable.meaning(status: status, code: code)
        self.error = error
        self.counted = counted
    }
}

// Like `status --json`: every documented field is written, `null` included.
extension OrderTimeline {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(orderNumber, forKey: .orderNumber)
        try c.encode(state, forKey: .state)
        try c.encode(outcome, forKey: .outcome)
        try c.encode(paidAt, forKey: .paidAt)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(dueAt, forKey: .dueAt)
        try c.encode(attemptCount, forKey: .attemptCount)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(operatorActions, forKey: .operatorActions)
        try c.encode(withdrawals, forKey: .withdrawals)
    }
}

extension OrderTimeline.Attempt {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(attempt, forKey: .attempt)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(completedAt, forKey: .completedAt)
        try c.encode(httpStatus, forKey: .httpStatus)
        try c.encode(status, forKey: .status)
        try c.encode(code, forKey: .code)
        try c.encode(meaning, forKey: .meaning)
        try c.encode(error, forKey: .error)
        try c.encode(counted, forKey: .counted)
    }
}

extension OrderTimeline.OperatorAction {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(at, forKey: .at)
        try c.encode(action, forKey: .action)
        try c.encode(detail, forKey: .detail)
        try c.encode(`operator`, forKey: .operator)
    }
}

extension OrderTimeline.Withdrawal {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(at, forKey: .at)
        try c.encode(reason, forKey: .reason)
    }
}
