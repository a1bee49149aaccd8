/// A gateway that cannot be reached: no connection (refused, timed out, no route), so no request
/// left. Not a job's fault and not counted against it; sending waits for everyone and one probe at
/// a time finds out when the gateway is back, so sending resumes within seconds of its return
/// (a per-job retry backoff after an outage kept jobs waiting for minutes).
extension SendingGate {
    /// The wait after the `streak`-th failed connection in a row: 1, 2, 4 s, then every 5 s.
    public static func unreachablePause(streak: Int) -> Double {
        min(5, Double(1 << min(max(streak, 1) - 1, 3)))
    }

    /// A request found no connection at `now`. Returns when that job is due again: the end of the
    /// wait (it may be the next probe). A halt or a hold stays (they need an operator or a test of
    /// the credentials anyway); the job then waits one short pause, so a test request that cannot
    /// connect is not repeated in a loop.
    public mutating func couldNotConnect(now: Double) -> Double {
        switch self {
        case .open:
            let until = now + Self.unreachablePause(streak: 1)
            self = .unreachable(until: until, streak: 1, since: now)
            return until
        case .unreachable(let until, let streak, let since):
            guard let next = Self.lengthened(until: until, streak: streak, now: now, pause: { Self.unreachablePause(streak: $0) }) else { return until }
            self = .unreachable(until: next.until, streak: next.streak, since: since)
            return next.until
        case .paused(let until, _, let since) where now >= until:
            // The maintenance probe found no connection: wait for the gateway itself now.
            let end = now + Self.unreachablePause(streak: 1)
            self = .unreachable(until: end, streak: 1, since: since)
            return end
        case .paused(let until, _, _):
            return until
        case .halted, .testingCredentials, .held:
            return now + Self.unreachablePause(streak: 1)
        }
    }

    /// `reconciled(withStored:now:)` when either side is unreachable (neither held nor halted): a
    /// maintenance pause wins (the gateway answered), two waits make the longer one, and the end of
    /// a wait counts only once the stored one is over (it is the probe's answer).
    func reconciledUnreachable(withStored stored: SendingGate, now: Double) -> SendingGate {
        switch (self, stored) {
        case (.unreachable(let until, let streak, let since), .unreachable(let storedUntil, let storedStreak, let storedSince)):
            return .unreachable(until: max(until, storedUntil), streak: max(streak, storedStreak), since: min(since, storedSince))
        case (.unreachable, .paused):
            return stored
        case (.paused, .unreachable), (.unreachable, .open):
            return self
        case (.open, .unreachable(let storedUntil, _, _)):
            return now >= storedUntil ? .open : stored
        default:
            return stored
        }
    }
}
