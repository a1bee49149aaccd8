import CancelCore
import CancelQueue
import ZeusAPI

/// The turn's one commit, held on through a locked, full or unreachable database: its answers
/// exist nowhere else. What happens to its claims meanwhile is decided here.
extension RunLoop {
    /// The turn's reads and its commit: rescues (after a heartbeat), claims (when a job is due and
    /// the gate and concurrency allow), then the batch, held on through a failing database.
    mutating func claimAndCommit(
        _ batch: inout Batch, from queue: any QueueTurn, now: Double, rescue rescueNow: Bool, stopping: Bool, reachable: inout Bool,
        needScan: inout Bool
    ) async throws -> [TamperedWrite] {
        if rescueNow {
            do {
                try await rescue(now: now, from: queue, into: &batch)
            } catch let error as StoreError where error.isTransient {
                logger.warning("could not look for the jobs of stopped daemons: \(error)")
                reachable = false
            }
        }
        if !stopping, reachable, now >= claimsPausedUntil, let due = nextDue, due <= now, inFlight.count < configuration.concurrency {
            do {
                if try await claim(now: now, from: queue, into: &batch) { needScan = true }
            } catch let error as StoreError where error.isTransient {
                // Nothing was claimed; the answers in the batch still commit below, waiting if need be.
                logger.warning("could not claim due jobs: \(error)")
                reachable = false
            }
        }
        return try await commitHoldingOn(&batch, now: now, via: queue)
    }

    /// Commits a turn's batch, waiting out another writer that holds the lock past the busy
    /// timeout: the batch holds answers that exist nowhere else, so it is never dropped. Its claims
    /// are: a stop requested meanwhile means no new request leaves, and claims not yet committed
    /// can simply go. Claims kept are restamped, so an attempt's start is when its request leaves.
    mutating func commitHoldingOn(_ batch: inout Batch, now: Double, via queue: any QueueTurn) async throws -> [TamperedWrite] {
        // Measured, not counted: one attempt may itself wait (a busy timeout, a statement deadline).
        let started = ContinuousClock.now
        var failures = 0
        var lastWarning: ContinuousClock.Instant?
        var at = now
        while true {
            do throws(StoreError) {
                let tampered = try await queue.commit(batch.writes, gate: batch.gateChange, now: at)
                if failures > 0 {
                    let waited = Double((ContinuousClock.now - started).components.seconds)
                    logger.notice("the database is writable again after about \(DurationText.describe(max(1, waited))); answers recorded")
                }
                return tampered
            } catch {
                guard error.isTransient else { throw error }
                failures += 1
                // Waiting is the loop working as intended: systemd must not restart it.
                heartbeat.feedWatchdog(now: daemon.clock())
                // Said at once, then every 30 s while it lasts: one line a second per daemon buries the journal.
                if lastWarning.map({ ContinuousClock.now - $0 >= .seconds(30) }) ?? true {
                    lastWarning = .now
                    let waited = Double((ContinuousClock.now - started).components.seconds)
                    if error.isDiskFull {
                        logger.error(
                            "the disk holding the database is full: \(error). Keeping \(batch.writes.count) answer(s) and change(s) in memory, claiming nothing new, retrying every second; free space on it and they are written at once")
                    } else if error.isLocked {
                        logger.warning(
                            "another process has held the database's write lock for over \(DurationText.describe(configuration.busyTimeout + waited)); keeping \(batch.writes.count) change(s) in memory and retrying. Find the long transaction (an application holding BEGIN open)")
                    } else {
                        logger.warning("\(error); keeping \(batch.writes.count) change(s) in memory and retrying every second (said again every 30 s while it lasts)")
                    }
                }
                try await Task.sleep(nanoseconds: 1_000_000_000)
                at = daemon.clock()
                // A full disk: nothing new is claimed until the answers are written.
                if daemon.inbox.isStopping || error.isDiskFull { dropClaims(from: &batch) }
                batch.writes = batch.writes.map { $0.restarted(at: at) }
                // A lock wait commits nothing: the claims are new ones. Any other failure may
                // have lost the answer of a COMMIT that landed: their deadlines stand.
                if error.isLocked { renewSendDeadlines(of: &batch) }
            }
        }
    }

    /// The claims of a batch that certainly did not commit start their send deadline again.
    mutating func renewSendDeadlines(of batch: inout Batch) {
        let sendBy = ContinuousClock.now + configuration.sendWindow
        for index in batch.flights.indices {
            batch.flights[index].0.sendBy = sendBy
            inFlight[batch.flights[index].0.record.id]?.sendBy = sendBy
        }
    }

    /// Takes the uncommitted claims out of a batch: their requests never leave.
    mutating func dropClaims(from batch: inout Batch) {
        let claimed = Set(batch.writes.filter(\.isClaim).map(\.record.id))
        guard !claimed.isEmpty else { return }
        batch.writes.removeAll(where: \.isClaim)
        batch.flights.removeAll()
        batch.journal.removeAll { claimed.contains($0.after.id) && $0.decision.sends }
        for id in claimed { inFlight.removeValue(forKey: id) }
        logger.notice("\(claimed.count) claimed job(s) not sent (not committed); they stay due")
    }
}
