import CancelCore
import CancelStore
import Logging
import ServiceLifecycle
import ZeusAPI

/// The run loop of `cancelq run`: picks up new rows, sends due jobs, records every answer.
///
/// `CancelCore` decides; this type performs: it writes the job's `sent` state and its attempt row
/// in one committed transaction BEFORE the request leaves, and writes the answer and the new state
/// together after. Many jobs share a transaction (group commit), none waits on the network inside one.
public final class CancellationDaemon: Service, @unchecked Sendable {
    // @unchecked: `store` (a SQLite connection) is used only by `run()`'s loop, one task at a time.
    private let configuration: DaemonConfiguration
    private let store: CancelStore
    private let transport: any Transport
    private let logger: Logger
    private let notifier: SystemdNotifier?
    private let clock: @Sendable () -> Double
    private let inbox = Inbox<Completion>()
    private let log: TransitionLog
    private let lock: DatabaseLock?

    /// Without inotify: how often to look for rows committed by other processes. Jobs with a known
    /// due time are woken for exactly; this bounds only how late an insert already due is noticed.
    static let changeCheckInterval = 0.2

    struct Completion: Sendable {
        let jobID: Int64
        let outcome: TransportOutcome
        let at: Double
    }

    struct Flight {
        var record: JobRecord
        let attempt: Int
        let isProbe: Bool
    }

    /// Counters for `STATUS=` and the closing log line.
    struct Tally {
        var sent = 0
        var succeeded = 0
        var failed = 0
    }

    /// `lock` is the daemon's lock on the database file: the watcher and the files guard follow the
    /// file it resolved.
    public init(
        configuration: DaemonConfiguration, store: CancelStore, transport: any Transport, logger: Logger,
        lock: DatabaseLock? = nil, notifier: SystemdNotifier? = SystemdNotifier(),
        clock: @escaping @Sendable () -> Double = CancelStore.currentTime
    ) {
        self.lock = lock
        self.configuration = configuration
        self.store = store
        self.transport = transport
        self.logger = logger
        self.notifier = notifier
        self.clock = clock
        log = TransitionLog(logger: logger, clock: clock)
    }

    public func run() async throws {
        defer { notifier?.notify("STOPPING=1") }
        let watchedPath = lock?.realPath ?? configuration.databasePath
        let watcher = ChangeWatcher.start(databasePath: watchedPath) { [inbox] in inbox.nudge() }
        defer { watcher?.stop() }
        if watcher == nil {
            logger.notice("no inotify for \(watchedPath): checking for new rows every \(Self.changeCheckInterval) s")
        }
        let changeCheckInterval = watcher == nil ? Self.changeCheckInterval : configuration.pollInterval
        do {
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    var loop = try Loop(daemon: self, changeCheckInterval: changeCheckInterval)
                    do {
                        try await loop.run(group: &group)
                    } catch {
                        // SQLite may notice a replaced -wal first (an I/O error): say what happened.
                        if let problem = loop.filesGuard?.check() { throw DaemonStop.databaseFilesChanged(problem) }
                        throw error
                    }
                }
            } onGracefulShutdown: { [inbox] in
                inbox.requestStop()
            }
        } catch {
            await transport.shutdown()
            throw error
        }
        await transport.shutdown()
    }

    /// Everything the loop mutates, kept together so `run` reads top to bottom.
    private struct Loop {
        let daemon: CancellationDaemon
        var gate: SendingGate
        var inFlight: [Int64: Flight] = [:]
        var random = SystemRandomNumberGenerator()
        var tally = Tally()
        var lastDataVersion: Int64
        var lastWAL: CancelStore.WALSignature?
        /// The WAL grew but no commit is visible yet: a writer is mid-commit (its wal-index update
        /// raises no inotify event), or it rolled back or checkpointed. Re-checked every 10 ms.
        var unconfirmedWALChangeSince: Double?
        let changeCheckInterval: Double
        var nextDue: Double?
        var nextFullScan = 0.0
        var lastWatchdog = 0.0
        var lastStatus = ""
        var lastStatusAt = -Double.infinity
        var lastStatusGate: SendingGate?
        var filesGuard: DatabaseFilesGuard?
        var announcedStop = false

        var store: CancelStore { daemon.store }
        var configuration: DaemonConfiguration { daemon.configuration }
        var policy: RetryPolicy { daemon.configuration.policy }
        var logger: Logger { daemon.logger }
        var probeInFlight: Bool { inFlight.values.contains { $0.isProbe } }

        init(daemon: CancellationDaemon, changeCheckInterval: Double) throws {
            self.daemon = daemon
            self.changeCheckInterval = changeCheckInterval
            gate = try daemon.store.loadGate()
            lastDataVersion = try daemon.store.connection.dataVersion()
            filesGuard = daemon.lock.map(DatabaseFilesGuard.init)
            try startUp()
        }

        /// A restart clears a credential halt (the configuration may be fixed) and resolves jobs a
        /// killed run left in `sent`: their outcome is unknown, so they are resent.
        mutating func startUp() throws {
            let now = daemon.clock()
            if case .halted(let reason, let since) = gate {
                gate.clearHalt()
                try store.saveGate(gate, now: now)
                logger.notice(
                    "the credential halt of \(TransitionLog.time(since)) (\(reason.code)) is cleared by this restart; sending resumes")
            }
            let stuck = try store.inFlightJobs()
            var writes: [JobWrite] = []
            for record in stuck {
                var job = record.job
                let before = job.attemptCount
                _ = try job.handle(.recoveredAfterCrash, gate: &gate, policy: policy, now: now, random: &random)
                var updated = record
                updated.job = job
                updated.lastStatus = nil
                updated.lastCode = nil
                updated.lastError = "outcome unknown after restart"
                let result = AttemptResult(error: "outcome unknown after restart", counted: job.attemptCount > before)
                writes.append(
                    JobWrite(expectedState: .sent, record: updated, attempt: .complete(number: record.requestCount, at: now, result: result)))
                if job.outcome == .quarantined {
                    logger.error(
                        "order \(job.orderNumber): in flight at \(job.interruptions) abnormal stops in a row; quarantined (failed) so it cannot stop the daemon again. Look at its timeline (cancelq status --order), then `cancelq requeue` it")
                } else {
                    logger.warning(
                        "order \(job.orderNumber): attempt \(record.requestCount) was in flight when the previous run stopped; outcome unknown -> \(daemon.log.describe(job)) (a repeat answers 02180118 if it went through)")
                }
            }
            daemon.log.tampered(try store.apply(writes, now: now))
            daemon.notifier?.notify("READY=1\nSTATUS=started; recovered \(stuck.count) interrupted job(s)")
            logger.info(
                "cancelq started: endpoint \(configuration.endpoint), concurrency \(configuration.concurrency), delay \(policy.delayAfterPayment) s, at most \(policy.maxAttempts) attempts")
        }

        /// What one turn of the loop writes: the answers that came back and the jobs it claims,
        /// committed together (group commit), and what to do once that commit is durable.
        struct Batch {
            var writes: [JobWrite] = []
            var answered: [(CancellationJob, Int, TransportOutcome, [JobAction])] = []
            var flights: [(Flight, PaymentReturnRequest)] = []
            /// Jobs this batch already writes (an answer): not claimed again in the same turn, when
            /// their row may say "due" only because another process edited it.
            var answeredIDs: Set<Int64> = []
            /// Jobs that came due but were not sent: (as read, as decided).
            var endedAtDue: [(CancellationJob, CancellationJob)] = []
        }

        mutating func run(group: inout ThrowingDiscardingTaskGroup<any Error>) async throws {
            var needScan = true
            while true {
                var now = daemon.clock()
                let stopping = daemon.inbox.isStopping
                if stopping && !announcedStop {
                    announcedStop = true
                    logger.notice(
                        "stopping: no new request leaves; waiting for \(inFlight.count) request(s) in flight to be answered and recorded (at most \(DurationText.describe(configuration.requestTimeout)))")
                }
                if !stopping {
                    if try noticeForeignCommit(now: now) || now >= nextFullScan {
                        // An operator's `resume` is a commit by another process: reread the gate
                        // before this turn's answers change it.
                        gate = try store.loadGate()
                        needScan = true
                    }
                    if needScan {
                        do {
                            try discover(now: now)
                        } catch let error as StoreError {
                            // Locked: the rows stay pending and the next scan picks them up.
                            guard error.isLocked else { throw error }
                            logger.warning("could not pick up new rows: \(error)")
                        }
                        nextDue = try store.nextDueTime()
                        nextFullScan = now + configuration.pollInterval
                        needScan = false
                    }
                }
                let gateBefore = gate
                var batch = Batch()
                let completions = daemon.inbox.drain()
                if !completions.isEmpty {
                    try record(completions, into: &batch)
                    needScan = true
                }
                if !stopping, let due = nextDue, due <= now, inFlight.count < configuration.concurrency {
                    if try claim(now: now, into: &batch) { needScan = true }
                }
                // ONE transaction: answers, new states, and the claimed jobs' attempt rows. Only
                // after it commits does any claimed request leave.
                let tampered = try await commitHoldingOn(batch.writes, gate: gate == gateBefore ? nil : gate, now: now)
                if !batch.writes.isEmpty {
                    try markOwnCommitSeen()
                    // Before any claimed request leaves: a commit into a deleted WAL went nowhere.
                    if let problem = filesGuard?.check() { throw DaemonStop.databaseFilesChanged(problem) }
                }
                if !tampered.isEmpty {
                    daemon.log.tampered(tampered)
                    // A claim whose job moved under us did not commit: its request never leaves.
                    let unclaimed = Set(tampered.filter { $0.isClaim && !$0.jobUpdated }.map(\.id))
                    batch.flights.removeAll { unclaimed.contains($0.0.record.id) }
                    for id in unclaimed { inFlight.removeValue(forKey: id) }
                }
                launch(batch, group: &group)
                if gate != gateBefore { announce(gate, previous: gateBefore) }

                if stopping {
                    if inFlight.isEmpty { break }
                    await daemon.inbox.wait(seconds: configuration.requestTimeout + 1)
                    continue
                }
                heartbeat(now: now)
                if configuration.exitWhenIdle, inFlight.isEmpty, !needScan, try !store.hasUnfinishedJobs() {
                    logger.info("no job left to finish: exiting (--exit-when-idle)")
                    break
                }
                if needScan { continue }
                now = daemon.clock()
                var wake = min(nextFullScan, now + changeCheckInterval)
                if let due = nextDue, inFlight.count < configuration.concurrency, mayClaim(now: due) {
                    wake = min(wake, due)
                }
                if case .paused(let until, _, _) = gate { wake = min(wake, max(until, now)) }
                if unconfirmedWALChangeSince != nil { wake = min(wake, now + 0.01) }
                await daemon.inbox.wait(seconds: wake - now)
            }
            heartbeat(now: daemon.clock(), final: true)
            logger.notice(
                "cancelq stopped: \(tally.sent) request(s) sent, \(tally.succeeded) succeeded, \(tally.failed) failed in this run; \(store.writeTransactions) write transactions")
        }

        /// Whether another process committed since we last looked: a `stat` of the WAL first, and
        /// SQLite's `data_version` only when the WAL changed.
        mutating func noticeForeignCommit(now: Double) throws -> Bool {
            let wal = store.walSignature()
            guard wal != lastWAL else {
                // Seen already (by our own commit, say): nothing left to confirm.
                unconfirmedWALChangeSince = nil
                return false
            }
            let version = try store.connection.dataVersion()
            if version != lastDataVersion {
                lastDataVersion = version
                lastWAL = wal
                unconfirmedWALChangeSince = nil
                return true
            }
            let since = unconfirmedWALChangeSince ?? now
            unconfirmedWALChangeSince = since
            if now - since > 0.5 {
                // Not a commit after all (a rollback or a checkpoint): stop re-checking.
                lastWAL = wal
                unconfirmedWALChangeSince = nil
            }
            return false
        }

        /// After our own commit the WAL changed too: note it as seen, and catch a foreign commit
        /// that landed just before ours (data_version counts only other connections' commits).
        mutating func markOwnCommitSeen() throws {
            lastWAL = store.walSignature()
            // Left set, the 10 ms re-check would run forever after a backlog (~94 wake-ups a second).
            unconfirmedWALChangeSince = nil
            let version = try store.connection.dataVersion()
            if version != lastDataVersion {
                lastDataVersion = version
                nextFullScan = 0  // rescan (and reread the gate) on the next turn
            }
        }

        func mayClaim(now: Double) -> Bool {
            switch gate.allowance(now: now) {
            case .any: true
            case .probe: !probeInFlight
            case .none: false
            }
        }

        /// Commits a turn's batch, waiting out another writer that holds the lock past the busy
        /// timeout: the batch holds answers that exist nowhere else, so it is never dropped.
        func commitHoldingOn(_ writes: [JobWrite], gate: SendingGate?, now: Double) async throws -> [CancelStore.TamperedWrite] {
            var waited = 0.0
            while true {
                do throws(StoreError) {
                    let skipped = try store.apply(writes, gate: gate, now: now)
                    if waited > 0 { logger.notice("the database is writable again after \(DurationText.describe(waited)); answers recorded") }
                    return skipped
                } catch {
                    guard error.isLocked else { throw error }
                    // Waiting is the loop working as intended: systemd must not restart it.
                    if let notifier = daemon.notifier, notifier.watchdogInterval != nil { notifier.notify("WATCHDOG=1") }
                    logger.warning(
                        "another process has held the database's write lock for over \(DurationText.describe(configuration.busyTimeout + waited)); keeping \(writes.count) change(s) in memory and retrying. Find the long transaction (an application holding BEGIN open)")
                    try await Task.sleep(nanoseconds: 1_000_000_000)
                    waited += configuration.busyTimeout + 1
                }
            }
        }

        /// New rows: validated and given their due time, a batch per transaction.
        mutating func discover(now: Double) throws {
            while true {
                let pending = try store.pendingJobs(limit: configuration.batchLimit)
                if pending.isEmpty { return }
                var writes: [JobWrite] = []
                // A row set back to pending by another process while its request is in flight
                // waits for that answer: the same order is never in flight twice.
                for record in pending where inFlight[record.id] == nil {
                    var job = record.job
                    _ = try job.handle(.discovered, gate: &gate, policy: policy, now: now, random: &random)
                    var updated = record
                    updated.job = job
                    if job.state == .failed { tally.failed += 1 }
                    writes.append(JobWrite(expectedState: .pending, record: updated))
                    daemon.log.discovered(job, id: record.id)
                }
                if writes.isEmpty { return }
                daemon.log.tampered(try store.apply(writes, now: now))
                if pending.count < configuration.batchLimit { return }
            }
        }

        /// Claims due jobs into `batch`: `sent` and an attempt row each. The requests go out in
        /// `launch`, after the batch has committed.
        mutating func claim(now: Double, into batch: inout Batch) throws -> Bool {
            let allowance = gate.allowance(now: now)
            let free = configuration.concurrency - inFlight.count
            let limit: Int
            switch allowance {
            case .any: limit = min(free, configuration.batchLimit)
            case .probe: limit = probeInFlight ? 0 : 1
            case .none: limit = 0
            }
            guard limit > 0 else { return false }
            let due = try store.dueJobs(now: now, limit: limit)
            guard !due.isEmpty else { return false }
            // Never a second request for a job already in flight, whatever its row says now.
            for record in due where inFlight[record.id] == nil && !batch.answeredIDs.contains(record.id) {
                var job = record.job
                let actions = try job.handle(.due, gate: &gate, policy: policy, now: now, random: &random)
                var updated = record
                updated.job = job
                guard actions == [.send] else {
                    if job.state == .failed { tally.failed += 1 }
                    if job.state == .succeeded { tally.succeeded += 1 }
                    batch.writes.append(JobWrite(expectedState: record.state, record: updated))
                    batch.endedAtDue.append((record.job, job))
                    continue
                }
                let request = try PaymentReturnRequest(
                    clientIP: configuration.clientIP.value, key: configuration.key.secret, orderNumber: job.orderNumber)
                updated.requestCount += 1
                batch.writes.append(
                    JobWrite(expectedState: record.state, record: updated, attempt: .start(number: updated.requestCount, at: now)))
                let flight = Flight(record: updated, attempt: updated.requestCount, isProbe: allowance == .probe)
                batch.flights.append((flight, request))
                // Counted as in flight at once, so the same turn never claims past the limit.
                inFlight[flight.record.id] = flight
            }
            return true
        }

        /// After the batch committed: log the answers, and send the claimed requests.
        mutating func launch(_ batch: Batch, group: inout ThrowingDiscardingTaskGroup<any Error>) {
            for (job, attempt, outcome, actions) in batch.answered {
                daemon.log.answered(job, attempt: attempt, outcome: outcome, actions: actions)
            }
            for (before, job) in batch.endedAtDue {
                daemon.log.notSentAtDue(before: before, after: job)
            }
            for (flight, request) in batch.flights {
                tally.sent += 1
                daemon.log.sent(flight.record.job, attempt: flight.attempt, probe: flight.isProbe)
                let jobID = flight.record.id
                let transport = daemon.transport
                let inbox = daemon.inbox
                let clock = daemon.clock
                group.addTask {
                    let outcome = await transport.send(request)
                    inbox.push(Completion(jobID: jobID, outcome: outcome, at: clock()))
                }
            }
        }

        /// Answers and transport failures into `batch`: each attempt row with its job's new state.
        mutating func record(_ completions: [Completion], into batch: inout Batch) throws {
            for completion in completions {
                guard let flight = inFlight.removeValue(forKey: completion.jobID) else { continue }
                DebugCrash.ifRequested(answering: flight.record.orderNumber)
                var job = flight.record.job
                var result: AttemptResult
                let event: JobEvent
                switch completion.outcome {
                case .answered(let status, let response):
                    event = .answered(GatewayAnswer(status: response.status, code: response.code))
                    result = AttemptResult(httpStatus: status, status: response.status, code: response.code, counted: false)
                case .failed(let failure, let status):
                    event = .transportFailed(failure)
                    result = AttemptResult(httpStatus: status, error: failure.description, counted: false)
                }
                let before = job.attemptCount
                let actions = try job.handle(event, gate: &gate, policy: policy, now: completion.at, random: &random)
                result.counted = job.attemptCount > before
                var updated = flight.record
                updated.job = job
                updated.lastStatus = result.status
                updated.lastCode = result.code
                updated.lastError = result.error
                batch.writes.append(
                    JobWrite(expectedState: .sent, record: updated, attempt: .complete(number: flight.attempt, at: completion.at, result: result)))
                if job.state == .succeeded { tally.succeeded += 1 }
                if job.state == .failed { tally.failed += 1 }
                batch.answered.append((job, flight.attempt, completion.outcome, actions))
                batch.answeredIDs.insert(flight.record.id)
            }
        }

        func announce(_ gate: SendingGate, previous: SendingGate) {
            switch gate {
            case .open:
                logger.notice("the gateway answers again: sending resumed for every job")
            case .paused(let until, let streak, _):
                logger.warning(
                    "the gateway is in maintenance: sending paused (pause \(streak)); one probe job goes \(daemon.log.when(until)) and decides whether sending resumes")
            case .halted(let reason, _):
                logger.critical(
                    "SENDING HALTED: \(reason.explanation). No job is consumed meanwhile; `cancelq status` shows the halt")
            }
        }

        /// systemd: WATCHDOG=1 proves the loop turns; STATUS= shows live counts in `systemctl status`.
        mutating func heartbeat(now: Double, final: Bool = false) {
            guard let notifier = daemon.notifier else { return }
            if let interval = notifier.watchdogInterval, now - lastWatchdog >= interval / 2 {
                notifier.notify("WATCHDOG=1")
                lastWatchdog = now
            }
            // Counts at most once a second (this runs every loop turn); a gate change at once.
            guard final || gate != lastStatusGate || now - lastStatusAt >= 1 else { return }
            lastStatusAt = now
            lastStatusGate = gate
            let gateText: String
            switch gate {
            case .open: gateText = "sending"
            case .paused(let until, _, _): gateText = "PAUSED (maintenance) until \(TransitionLog.time(until))"
            case .halted(let reason, _): gateText = "HALTED (\(reason.code))"
            }
            let status = "\(gateText); in flight \(inFlight.count); this run: sent \(tally.sent), succeeded \(tally.succeeded), failed \(tally.failed)"
            if status != lastStatus {
                notifier.notify("STATUS=\(status)")
                lastStatus = status
            }
        }
    }
}

/// Why the daemon stops on its own, with a non-zero exit.
enum DaemonStop: Error, CustomStringConvertible {
    case databaseFilesChanged(String)

    var description: String {
        switch self {
        case .databaseFilesChanged(let what):
            "\(what) while the daemon was running; stopping before any further request leaves. "
                + "Commits since then may be lost: restore the database files, then restart (jobs left in sent are resent safely)"
        }
    }
}
