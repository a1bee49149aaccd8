import CancelCore

// The JSON keys of `status --json` and how every field is written: a documented contract.

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
