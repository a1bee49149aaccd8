import CancelCore

/// systemd: WATCHDOG=1 proves the loop turns; STATUS= shows live counts in `systemctl status`.
struct Heartbeat {
    let notifier: SystemdNotifier?
    private var lastWatchdog = -Double.infinity
    private var lastStatus = ""
    private var lastStatusAt = -Double.infinity
    private var lastGate: SendingGate?

    init(notifier: SystemdNotifier?) { self.notifier = notifier }

    /// Counts for STATUS= and the closing log line.
    struct Tally {
        var sent = 0
        var succeeded = 0
        var failed = 0
    }

    /// The watchdog alone: also fed while the loop waits out another writer's lock.
    mutating func feedWatchdog(now: Double) {
        guard let notifier, let interval = notifier.watchdogInterval, now - lastWatchdog >= interval / 2 else { return }
        notifier.notify("WATCHDOG=1")
        lastWatchdog = now
    }

    mutating func beat(now: Double, gate: SendingGate, inFlight: Int, tally: Tally, final: Bool = false) {
        guard let notifier else { return }
        feedWatchdog(now: now)
        // Counts at most once a second (this runs every loop turn); a gate change at once.
        guard final || gate != lastGate || now - lastStatusAt >= 1 else { return }
        lastStatusAt = now
        lastGate = gate
        let gateText: String
        switch gate {
        case .open: gateText = "sending"
        case .paused(let until, _, _): gateText = "PAUSED (maintenance) until \(TransitionLog.time(until))"
        case .unreachable(let until, _, _): gateText = "WAITING for the unreachable gateway; next probe \(TransitionLog.time(until))"
        case .halted(let reason, _): gateText = "HALTED (\(reason.code))"
        case .testingCredentials(let reason, _): gateText = "HALTED (\(reason.code)); one request tests the credentials"
        case .held(let surge, _): gateText = "HELD (surge: over \(surge.holdAbove) enqueued; cancelq approve releases)"
        }
        let status = "\(gateText); in flight \(inFlight); this run: sent \(tally.sent), succeeded \(tally.succeeded), failed \(tally.failed)"
        if status != lastStatus {
            notifier.notify("STATUS=\(status)")
            lastStatus = status
        }
    }
}
