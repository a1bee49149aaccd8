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
                + "fix the configuration, then restart or run `cancelq resume`: one request tests it before sending resumes")
    }

    public var description: String { explanation }
}

/// More jobs enqueued in a short time than a shop cancels normally: a buggy application may be
/// queueing every order. Pure: the daemon counts the rows, this decides.
public struct SurgeLimit: Hashable, Sendable {
    /// Sending holds when more than this many jobs were enqueued within `window`; 0 turns it off.
    public var holdAbove: Int
    /// The trailing window, seconds.
    public var window: Double

    public init(holdAbove: Int, window: Double) {
        self.holdAbove = max(0, holdAbove)
        self.window = window
    }

    public static let off = SurgeLimit(holdAbove: 0, window: 3600)

    public var isOn: Bool { holdAbove > 0 }

    /// Where counting starts: the window's start, or the last approval when that is later (what an
    /// operator approved never counts toward the next surge).
    public func countingFrom(now: Double, approvedAt: Double?) -> Double {
        max(now - window, approvedAt ?? -Double.infinity)
    }

    /// The most rows the store needs to count: one past the limit decides.
    public var countCap: Int { holdAbove == Int.max ? holdAbove : holdAbove + 1 }

    /// The hold for `enqueued` jobs counted from `countedFrom`, or nil when that is no surge.
    public func surge(enqueued: Int, countedFrom: Double) -> Surge? {
        guard isOn, enqueued > holdAbove else { return nil }
        return Surge(enqueued: enqueued, window: window, holdAbove: holdAbove, countedFrom: countedFrom)
    }
}

/// What started a surge hold, as `status` and the journal show it.
public struct Surge: Hashable, Sendable, CustomStringConvertible {
    /// Jobs enqueued from `countedFrom` when the hold began (counted up to `holdAbove + 1`).
    public var enqueued: Int
    public var window: Double
    public var holdAbove: Int
    /// The start of the count: the window's start or the last approval.
    public var countedFrom: Double

    public init(enqueued: Int, window: Double, holdAbove: Int, countedFrom: Double) {
        self.enqueued = enqueued
        self.window = window
        self.holdAbove = holdAbove
        self.countedFrom = countedFrom
    }

    public var description: String {
        "more than \(holdAbove) jobs enqueued within \(DurationText.describe(window))"
    }
}

/// Sending as a whole: open, paused while the gateway is in maintenance, halted because every
/// job would fail the same way, or held after a surge of new jobs until an operator approves. A
/// value type; the daemon persists it so `status` and a restart see it.
public enum SendingGate: Hashable, Sendable {
    case open
    /// No request until `until`; then one probe job decides whether sending resumes.
    case paused(until: Double, streak: Int, since: Double)
    /// The gateway could not be reached (no connection): like a pause, one probe at a time, after a
    /// short wait that grows with each failed probe (SendingGate+Unreachable.swift). Stored and
    /// shown as `paused`.
    case unreachable(until: Double, streak: Int, since: Double)
    case halted(HaltReason, since: Double)
    /// Still halted, but one request may test the credentials (after a restart or `resume`, when
    /// the configuration may have been fixed): a credential rejection halts again, any other
    /// answer reopens. Stored and shown as `halted`.
    case testingCredentials(HaltReason, since: Double)
    /// No request until an operator's `cancelq approve`: nothing else ends it.
    case held(Surge, since: Double)

    /// The gate's kind, as stored and shown (`sending.mode` in `status --json`).
    public enum Mode: String, Hashable, Sendable, Codable, CaseIterable {
        case open, paused, halted, held
    }

    public var mode: Mode {
        switch self {
        case .open: .open
        case .paused, .unreachable: .paused
        case .halted, .testingCredentials: .halted
        case .held: .held
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
        case .unreachable(let until, _, _) where now < until: .none(until: until)
        case .paused, .unreachable, .testingCredentials: probeInFlight ? .none(until: nil) : .probe
        case .halted, .held: .none(until: nil)
        }
    }

    /// A `maintenance` answer came back; returns when the paused jobs are due again.
    /// Answers to requests sent before the pause do not lengthen it: only the probe's does.
    public mutating func maintenanceAnswered(now: Double, policy: RetryPolicy) -> Double {
        switch self {
        case .open, .testingCredentials, .unreachable:
            // A maintenance answer says nothing of the credentials: the probe after the pause tests
            // them. The gateway answered: it is reachable again.
            let until = now + policy.maintenancePause(streak: 1)
            self = .paused(until: until, streak: 1, since: now)
            return until
        case .paused(let until, let streak, let since):
            guard let next = Self.lengthened(until: until, streak: streak, now: now, pause: { policy.maintenancePause(streak: $0) }) else { return until }
            self = .paused(until: next.until, streak: next.streak, since: since)
            return next.until
        case .halted, .held:
            // The halt or hold needs an operator anyway; the job retries after a standard pause.
            return now + policy.maintenancePause(streak: 1)
        }
    }

    /// A wait that one probe at a time ends (a maintenance pause, an unreachable gateway), as the
    /// probe's failure at `now` lengthens it: the next streak and its end. Nil before `until`: a
    /// request sent before the wait began fails too, and must not lengthen it.
    static func lengthened(until: Double, streak: Int, now: Double, pause: (Int) -> Double) -> (until: Double, streak: Int)? {
        guard now >= until else { return nil }
        let next = streak == .max ? streak : streak + 1
        return (now + pause(next), next)
    }

    /// Any answer but `maintenance`: a probe's ends the pause. Returns whether sending resumed.
    @discardableResult
    public mutating func nonMaintenanceAnswered(now: Double) -> Bool {
        switch self {
        case .paused(let until, _, _) where now >= until:
            self = .open
            return true
        case .testingCredentials, .unreachable:
            // The gateway answered without rejecting the credentials: they work, and it is reachable.
            self = .open
            return true
        case .open, .paused, .halted, .held:
            return false
        }
    }

    public mutating func credentialsRejected(code: String, now: Double) {
        switch self {
        case .halted:
            return  // keep the first reason and time
        case .held:
            // Only an approval ends a hold; the first request after it meets the same refusal
            // and halts then.
            return
        case .testingCredentials(_, let since):
            // The test failed: halted as before, with what the gateway said this time.
            self = .halted(.credentialsRejected(code: code), since: since)
        case .open, .paused, .unreachable:
            self = .halted(.credentialsRejected(code: code), since: now)
        }
    }

    /// An operator's `resume`, as every store performs it: a pause ends now (one probe goes at
    /// once and its answer decides for every job, as at the pause's natural end: releasing every
    /// paused job at once would send a burst into a gateway that may still be in maintenance); a
    /// halt goes on until one request shows the credentials work. Nil when there is nothing to
    /// resume: open, already testing, or a surge hold (`approve` releases that, a separate
    /// decision about the backlog). `detail` is the audit line.
    public func resumed(now: Double) -> (gate: SendingGate, detail: String)? {
        switch self {
        case .open, .testingCredentials, .held:
            return nil
        case .paused(let until, let streak, let since):
            return (.paused(until: now, streak: streak, since: since), "ended the maintenance pause that ran until \(until); one probe goes now")
        case .unreachable(let until, let streak, let since):
            return (.unreachable(until: now, streak: streak, since: since), "ended the wait for the unreachable gateway that ran until \(until); one probe goes now")
        case .halted(let reason, let since):
            return (
                .testingCredentials(reason, since: since),
                "one request tests the credentials; sending resumes unless the gateway rejects them again (the halt: \(reason.explanation))"
            )
        }
    }

    /// `resumed(now:)` applied (for tests and scripts of the state machine).
    public mutating func resume(now: Double = 0) {
        if let (gate, _) = resumed(now: now) { self = gate }
    }

    /// More jobs were enqueued than the limit allows: sending holds, whatever it was doing (a
    /// pause or a halt ends as the hold starts; their cause shows again after the approval).
    /// Returns whether the hold started now.
    @discardableResult
    public mutating func surgeCounted(enqueued: Int, countedFrom: Double, limit: SurgeLimit, now: Double) -> Bool {
        if case .held = self { return false }
        guard let surge = limit.surge(enqueued: enqueued, countedFrom: countedFrom) else { return false }
        self = .held(surge, since: now)
        return true
    }

    /// An operator's `cancelq approve`: releases a hold. Returns whether there was one.
    @discardableResult
    public mutating func approve() -> Bool {
        guard case .held = self else { return false }
        self = .open
        return true
    }

    /// What a restart does to a stored credential halt: it stays, and one request tests the
    /// credentials (fixed before the restart, perhaps). A maintenance pause stays as it is.
    /// Returns whether there was a halt to test.
    @discardableResult
    public mutating func testCredentialsAfterRestart() -> Bool {
        guard case .halted(let reason, let since) = self else { return false }
        self = .testingCredentials(reason, since: since)
        return true
    }

    /// The gate to store when this daemon decided `self` while other daemons sharing the queue may
    /// have changed the stored one meanwhile (`stored`, read under lock at `now`). The stricter wins:
    /// a hold stays until an approval; a halt stays until a test of the credentials (after a
    /// restart or `resume`) is answered without a rejection; two pauses make the longer one; a
    /// reopening counts only once the stored pause has ended (it is the probe's answer), never
    /// over a pause another daemon began since.
    public func reconciled(withStored stored: SendingGate, now: Double) -> SendingGate {
        switch (self, stored) {
        case (_, .held):
            // Only an operator's approval ends a hold, never a daemon's decision.
            return stored
        case (.held, _):
            return self
        case (.halted, _):
            return self
        case (_, .halted):
            return stored
        case (.testingCredentials, .testingCredentials), (.testingCredentials, .paused), (.unreachable, .testingCredentials):
            return stored
        case (.testingCredentials, .unreachable):
            return self
        case (.unreachable, _), (_, .unreachable):
            return reconciledUnreachable(withStored: stored, now: now)
        case (.testingCredentials, .open), (.open, .testingCredentials):
            // Opened by the test's answer (here or in another daemon): the credentials work.
            return .open
        case (.paused, .testingCredentials):
            return self
        case (.paused(let until, let streak, let since), .paused(let storedUntil, let storedStreak, let storedSince)):
            return .paused(until: max(until, storedUntil), streak: max(streak, storedStreak), since: min(since, storedSince))
        case (.paused, .open), (.open, .open):
            return self
        case (.open, .paused(let storedUntil, _, _)):
            return now >= storedUntil ? .open : stored
        }
    }
}
