import CancelCore
import CancelQueue
import Logging
import ZeusAPI

/// One turn after another: pick up new rows, record what came back, claim what is due, commit it
/// all in one transaction, then send. The decisions themselves are performed in `perform`
/// (RunLoop+Perform.swift); this file is the order of the turn and the sleeping between turns.
struct RunLoop {
    let daemon: CancellationDaemon
    let changeCheckInterval: Double
    var gate: SendingGate
    var inFlight: [Int64: Flight] = [:]
    var random = SystemRandomNumberGenerator()
    var tally = Heartbeat.Tally()
    var heartbeat: Heartbeat
    var foreignCommits: any ChangeDetector
    var filesGuard: (any StorageGuard)?
    var nextDue: Double?
    var nextFullScan = 0.0
    var announcedStop = false
    /// The next heartbeat (and look for dead daemons' jobs) on a shared queue.
    var nextBeat = 0.0
    /// After the shared gate refused a claim (another daemon holds the probe, say): no claim before.
    var claimsPausedUntil = 0.0
    let notifications: (any ChangeNotifications)?
    var watching = true
    /// New rows were seen (or the daemon just started): count them against the surge limit.
    var surgeCheckPending = true
    /// Jobs committed long after their insert, as this daemon found them (the count by insert time misses them).
    var lateArrivals: LateArrivals
    /// The end of the last scan that looked for new rows; nil before the first and after a failed one.
    var lastScanAt: ContinuousClock.Instant?
    /// A backlog found after a gap (at start, after an outage) is discovered one batch per turn,
    /// with claims in between, so that sending starts at once instead of after the whole backlog.
    var discoveringBacklog = false

    var store: any QueueStore { daemon.store }
    var configuration: DaemonConfiguration { daemon.configuration }
    var policy: RetryPolicy { daemon.configuration.policy }
    var logger: Logger { daemon.logger }
    var probeInFlight: Bool { inFlight.values.contains { $0.isProbe } }

    /// A request on its way: the job as claimed, its attempt number, and the send deadline fixed
    /// when it was claimed. On a shared queue the claim's commit is also a heartbeat, and another
    /// daemon rescues the job only a lease (request timeout + margin) after that: past `sendBy` no
    /// byte of the request is written, however late the commit turned out to have landed.
    struct Flight {
        var record: JobRecord
        let attempt: Int
        let isProbe: Bool
        var sendBy: ContinuousClock.Instant
    }

    init(daemon: CancellationDaemon, changeCheckInterval: Double, notifications: (any ChangeNotifications)?) async throws {
        self.daemon = daemon
        self.changeCheckInterval = changeCheckInterval
        self.notifications = notifications
        try await daemon.store.join()
        gate = try await daemon.store.loadGate()
        foreignCommits = try daemon.store.makeChangeDetector()
        heartbeat = Heartbeat(notifier: daemon.notifier)
        lateArrivals = LateArrivals(limit: daemon.configuration.surgeLimit)
        filesGuard = daemon.storageGuard
        try await startUp()
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
            var reachable = true
            if !stopping {
                do {
                    try await scan(now: now, needScan: &needScan)
                } catch let error as StoreError where error.isTransient {
                    // The rows stay as they are; answers below are kept until the store is back.
                    logger.warning("could not look for new and due jobs: \(error)")
                    reachable = false
                }
            }
            var batch = Batch()
            // Before this turn claims anything: a surge holds sending in this same commit.
            if surgeCheckPending && !stopping && reachable {
                do {
                    try await holdIfSurge(now: now, into: &batch)
                } catch let error as StoreError where error.isTransient {
                    logger.warning("could not count new jobs against the surge limit: \(error)")
                    reachable = false
                }
            }
            let completions = daemon.inbox.drain()
            if !completions.isEmpty {
                try record(completions, into: &batch)
                needScan = true
            }
            var rescueNow = false
            if reachable, let interval = store.heartbeatInterval, now >= nextBeat {
                nextBeat = now + interval
                do {
                    try await store.beat(inFlight: inFlight.count)
                    rescueNow = !stopping
                } catch {
                    // Caught whole: a typed `catch … where` here crashes the Swift 6.3.1 compiler.
                    guard error.isTransient else { throw error }
                    logger.warning("could not heartbeat: \(error)")
                    reachable = false
                }
            }
            // ONE turn: the rescues and claims read (locked against other daemons), then ONE
            // transaction with answers, new states, the gate, and the claimed jobs' attempt rows.
            // Only after it commits does any claimed request leave.
            let tampered = try await store.turn { queue in
                try await claimAndCommit(
                    &batch, from: queue, now: now, rescue: rescueNow, stopping: stopping, reachable: &reachable, needScan: &needScan)
            }
            // Before any claimed request leaves: a commit into replaced storage went nowhere.
            if !batch.writes.isEmpty, let problem = filesGuard?.check() { throw DaemonStop.databaseFilesChanged(problem) }
            if !tampered.isEmpty {
                daemon.log.tampered(tampered.filter { !$0.contended })
                if tampered.contains(where: \.contended) {
                    // Another daemon won the claim or holds the probe: reread the gate, and give
                    // its probe time before trying again.
                    logger.debug("\(tampered.filter(\.contended).count) claim(s) went to another daemon or were refused by the shared gate")
                    nextFullScan = 0
                    claimsPausedUntil = now + Self.contendedClaimPause
                }
                // The schema refuses a claim (a trigger added to the queue): it would be refused
                // again at once; claims rest a second rather than spin on the write lock.
                if tampered.contains(where: { $0.isClaim && $0.refusal != nil }) {
                    claimsPausedUntil = max(claimsPausedUntil, now + Self.refusedClaimPause)
                }
                // A claim whose job moved under us did not commit: its request never leaves.
                let unclaimed = Set(tampered.filter { $0.isClaim && !$0.jobUpdated }.map(\.id))
                batch.flights.removeAll { unclaimed.contains($0.0.record.id) }
                for id in unclaimed { inFlight.removeValue(forKey: id) }
                // No journal line for a change that did not happen (the lines above say what did);
                // an answer received still counts as received.
                let notApplied = Set(tampered.filter { !$0.jobUpdated }.map(\.id))
                for entry in batch.journal where notApplied.contains(entry.after.id) { daemon.metrics?.countAnswer(entry) }
                batch.journal.removeAll { notApplied.contains($0.after.id) }
            }
            launch(batch, group: &group)

            if stopping {
                if inFlight.isEmpty { break }
                await daemon.inbox.wait(seconds: configuration.requestTimeout + 1)
                continue
            }
            heartbeat.beat(now: now, gate: gate, inFlight: inFlight.count, tally: tally)
            if !reachable {
                // Answers arriving meanwhile wake the loop; otherwise try again in a second.
                await daemon.inbox.wait(seconds: 1)
                continue
            }
            if configuration.exitWhenIdle, inFlight.isEmpty, !needScan, (try? await store.hasUnfinishedJobs()) == false {
                logger.info("no job left to finish: exiting (--exit-when-idle)")
                break
            }
            if needScan { continue }
            now = daemon.clock()
            // Busy, completions wake the loop and each turn checks for foreign commits: the watcher
            // is off. Idle, it is on again, and one more check covers the commits in between.
            if inFlight.isEmpty != watching {
                watching = inFlight.isEmpty
                notifications?.setWatching(watching)
                if watching, try foreignCommits.noticed(now: now) {
                    nextFullScan = 0
                    continue
                }
            }
            await daemon.inbox.wait(seconds: nextWake(now: now) - now)
        }
        heartbeat.beat(now: daemon.clock(), gate: gate, inFlight: inFlight.count, tally: tally, final: true)
        await store.leave()
        logger.notice(
            "cancelq stopped: \(tally.sent) request(s) sent, \(tally.succeeded) succeeded, \(tally.failed) failed in this run; \(store.writeTransactions) write transactions")
    }

    /// How long claims rest after the shared gate refused one.
    static let contendedClaimPause = 0.25
    /// How long claims rest after the schema refused one.
    static let refusedClaimPause = 1.0

    /// Rereads the gate when another process changed something, and picks up new rows and the
    /// next due time when a scan is due.
    mutating func scan(now: Double, needScan: inout Bool) async throws {
        if try foreignCommits.noticed(now: now) || now >= nextFullScan {
            // An operator's `resume` is a commit by another process: reread the gate
            // before this turn's answers change it.
            let stored = try await store.loadGate()
            if stored != gate {
                logger.notice("the sending gate was changed by another process (cancelq resume or approve?): now \(stored.mode.rawValue)")
                daemon.log.released(from: gate, to: stored)
                gate = stored
            }
            needScan = true
        }
        guard needScan else { return }
        // Scanning without a gap since the last scan: what is new now was committed since then,
        // whatever its insert time says (after a start or an outage, nobody knows when).
        // A backlog being discovered batch by batch is still the one found after the gap.
        let gapless =
            !discoveringBacklog && (lastScanAt.map { ContinuousClock.now - $0 < .seconds(configuration.pollInterval * 2 + 2) } ?? false)
        lastScanAt = nil
        var morePending = false
        do {
            // Without a gap, a burst is discovered whole before anything is claimed: late arrivals
            // must count toward a surge before any of it leaves. After a gap they do not count
            // (nobody knows when they arrived), and the surge is counted by insert time each turn.
            let found = try await discover(now: now, gapless: gapless, oneBatch: !gapless)
            if found.seen > 0 { surgeCheckPending = true }
            morePending = found.more
        } catch let error as StoreError where error.isLocked {
            // Locked: the rows stay pending and the next scan picks them up.
            logger.warning("could not pick up new rows: \(error)")
        }
        discoveringBacklog = morePending
        nextDue = try await store.nextDueTime()
        lastScanAt = .now
        nextFullScan = now + configuration.pollInterval
        needScan = morePending
    }

    /// The next time the loop must look: the next full scan, the next due job it may claim, the
    /// end of a pause, or 10 ms while a WAL change awaits confirmation.
    func nextWake(now: Double) -> Double {
        var wake = min(nextFullScan, now + changeCheckInterval)
        if store.heartbeatInterval != nil { wake = min(wake, nextBeat) }
        if let due = nextDue, inFlight.count < configuration.concurrency {
            switch gate.allowance(now: max(due, now), probeInFlight: probeInFlight) {
            case .any, .probe: wake = min(wake, max(due, claimsPausedUntil))
            case .none(let until): if let until { wake = min(wake, max(until, now)) }
            }
        }
        if foreignCommits.isUnconfirmed { wake = min(wake, now + 0.01) }
        return wake
    }
}
