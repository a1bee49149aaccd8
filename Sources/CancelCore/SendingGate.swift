/// Why sending stopped for every job: the gateway refused our credentials.
public struct HaltReason: Hashable, Sendable, CustomStringConvertible {
    public var code: String
    public var explanation: String

    public init(code: String, explanation: String) {
        self.code = code
        self.explanation = explanation
    }

    public static func credentialsRejected(code: String) -> Self {
        let meaning = CodeTable.meaning(of: code) ?? "credentials rejected"
        return .init(
            code: code,
            explanation: "the gateway rejected the client IP code or key (\(code): \(meaning)); "
                + "fix the configuration and restart, or run `cancelq resume`")
    }

    public var description: String { explanation }
}

/// Sending as a whole: open, paused while the gateway is in maintenance, or halted because every
/// job would fail the same way. A value type; the daemon persists it so `status` and a restart see it.
public enum SendingGate: Hashable, Sendable {
    case open
    /// No request until `until`; then one probe job decides whether sending resumes.
    case paused(until: Double, streak: Int, since: Double)
    case halted(HaltReason, since: Double)

    /// The gate's kind, as stored and shown (`sending.mode` in `status --json`).
    public enum Mode: String, Hashable, Sendable, Codable, CaseIterable {
        case open, paused, halted
    }

    public var mode: Mode {
        switch self {
        case .open: .open
        case .paused: .paused
        case .halted: .halted
        }
    }

    /// What the daemon may send now.
    public enum Allowance: Equatable, Sendable {
        case any
        /// Exactly one job, to learn whether maintenance is over.
        case probe
        /// Nothing; `until` when it is known.
        case none(until: Double?)
    }

    /// What may be claimed now. During a pause one probe goes once the pause is over, and no
    /// other while it is in flight: its answer decides for every job.
    public func allowance(now: Double, probeInFlight: Bool) -> Allowance {
        switch self {
        case .open: .any
        case .paused(let until, _, _) where now < until: .none(until: until)
        case .paused: probeInFlight ? .none(until: nil) : .probe
        case .halted: .none(until: nil)
        }
    }

    /// A `maintenance` answer came back; returns when the paused jobs are due again.
    /// Answers to requests sent before the pause do not lengthen it: only the probe's does.
    public mutating func maintenanceAnswered(now: Double, policy: RetryPolicy) -> Double {
        switch self {
        case .open:
            let until = now + policy.maintenancePause(streak: 1)
            self = .paused(until: until, streak: 1, since: now)
            return until
        case .paused(let until, let streak, let since):
            guard now >= until else { return until }
            let nextStreak = streak == .max ? streak : streak + 1
            let next = now + policy.maintenancePause(streak: nextStreak)
            self = .paused(until: next, streak: nextStreak, since: since)
            return next
        case .halted:
            // The halt needs an operator anyway; the job retries after a standard pause.
            return now + policy.maintenancePause(streak: 1)
        }
    }

    /// Any answer but `maintenance`: a probe's ends the pause. Returns whether sending resumed.
    @discardableResult
    public mutating func nonMaintenanceAnswered(now: Double) -> Bool {
        switch self {
        case .paused(let until, _, _) where now >= until:
            self = .open
            return true
        case .open, .paused, .halted:
            return false
        }
    }

    public mutating func credentialsRejected(code: String, now: Double) {
        switch self {
        case .halted:
            return  // keep the first reason and time
        case .open, .paused:
            self = .halted(.credentialsRejected(code: code), since: now)
        }
    }

    /// An operator's `resume`, or a restart with (possibly) fixed configuration.
    public mutating func resume() {
        self = .open
    }

    /// Clears a credential halt only (what a restart does); a maintenance pause stays.
    public mutating func clearHalt() {
        if case .halted = self { self = .open }
    }

    /// The gate to store when this daemon decided `self` while other daemons sharing the queue may
    /// have changed the stored one meanwhile (`stored`, read under lock at `now`). The stricter wins:
    /// a halt stays until an operator or a restart lifts it; two pauses make the longer one; a
    /// reopening counts only once the stored pause has ended (it is the probe's answer), never
    /// over a pause another daemon began since.
    public func reconciled(withStored stored: SendingGate, now: Double) -> SendingGate {
        switch (self, stored) {
        case (.halted, _):
            return self
        case (_, .halted):
            return stored
        case (.paused(let until, let streak, let since), .paused(let storedUntil, let storedStreak, let storedSince)):
            return .paused(until: max(until, storedUntil), streak: max(streak, storedStreak), since: min(since, storedSince))
        case (.paused, .open), (.open, .open):
            return self
        case (.open, .paused(let storedUntil, _, _)):
            return now >= storedUntil ? .open : stored
        }
    }
}
