import CancelCore
import CancelMetrics
import CancelQueue
import ZeusAPI

/// Where decisions come from (a new row, a due job, an answer, a crash recovery) and the one
/// function that performs them: `perform`.
extension RunLoop {
    /// What one turn writes: the answers that came back and the jobs it claims, committed together
    /// (group commit), and what to do once that commit is durable.
    struct Batch {
        var writes: [JobWrite] = []
        /// The gate after this turn's decisions, when one changed it: saved in the same commit.
        var gateChange: SendingGate?
        var flights: [(Flight, PaymentReturnRequest)] = []
        /// Journal lines, written once the commit is durable.
        var journal: [TransitionLog.Entry] = []
        /// Jobs this batch already writes (an answer): not claimed again in the same turn, when
        /// their row may say "due" only because another process edited it.
        var answeredIDs: Set<Int64> = []
    }

    /// Where a decision came from, and what performing it needs.
    enum Origin {
        case discovered
        case due(probe: Bool)
        case answered(Flight, TransportOutcome, at: Double)
        /// Left in flight by this daemon's previous run (nil), or by another daemon that died.
        case recovered(fromDaemon: String?)
    }

    static let unknownAfterRestart = "\(AttemptNotes.outcomeUnknownPrefix) after restart"

    static func unknownAfterRescue(from daemon: String) -> String {
        "\(AttemptNotes.outcomeUnknownPrefix): its daemon \(daemon) stopped heartbeating; rescued"
    }

    /// Performs one decision of the state machine: the job's row and its attempt row, the gate,
    /// the request to send, the tally and the journal line. The only place where what `CancelCore`
    /// decided becomes effects; every case of the decision is handled here.
    mutating func perform(
        _ decision: Decision, job: CancellationJob, record: JobRecord, origin: Origin, now: Double, into batch: inout Batch
    ) throws {
        var updated = record
        updated.job = job
        var attempt: AttemptWrite?
        switch origin {
        case .discovered, .due:
            break
        case .answered(let flight, let outcome, let at):
            let result = AttemptResult(outcome, counted: decision.countsAttempt)
            updated.lastStatus = result.status
            updated.lastCode = result.code
            updated.lastError = result.error
            attempt = .complete(number: flight.attempt, at: at, result: result)
        case .recovered(let deadDaemon):
            let unknown = deadDaemon.map(Self.unknownAfterRescue) ?? Self.unknownAfterRestart
            updated.lastStatus = nil
            updated.lastCode = nil
            updated.lastError = unknown
            attempt = .complete(
                number: record.requestCount, at: now, result: AttemptResult(error: unknown, counted: decision.countsAttempt))
        }
        switch decision.next {
        case .send(let orderNumber):
            guard case .due(let probe) = origin else {
                preconditionFailure("the state machine sends only a due job, never on \(origin)")
            }
            let request = PaymentReturnRequest(clientIP: configuration.clientIP, key: configuration.key, orderNumber: orderNumber)
            updated.requestCount += 1
            attempt = .start(number: updated.requestCount, at: now)
            let flight = Flight(
                record: updated, attempt: updated.requestCount, isProbe: probe,
                sendBy: .now + configuration.sendWindow)
            batch.flights.append((flight, request))
            // Counted as in flight at once, so the same turn never claims past the limit.
            inFlight[record.id] = flight
        case .finish:
            switch job.state {
            case .succeeded: tally.succeeded += 1
            case .failed: tally.failed += 1
            case .pending, .waitingDelay, .sent, .retrying, .maintenancePaused, .withdrawn: break
            }
        case .wait, .restart:
            break
        }
        if let changed = decision.gate {
            gate = changed
            batch.gateChange = changed
        }
        var write = JobWrite(expectedState: record.state, record: updated, attempt: attempt)
        if case .recovered = origin { write.attemptOnlyWithJob = true }
        batch.writes.append(write)
        batch.journal.append(TransitionLog.Entry(decision: decision, before: record, after: updated, origin: origin))
    }

    /// A stored credential halt survives a restart, but the configuration may have been fixed:
    /// ONE request tests it first (a crash loop with a wrong key costs one request per start).
    /// Jobs a killed run left in `sent` have an unknown outcome: resent (or quarantined).
    mutating func startUp() async throws {
        let now = daemon.clock()
        if case .halted(let reason, let since) = gate, gate.testCredentialsAfterRestart() {
            try await store.saveGate(gate, now: now)
            logger.notice(
                "sending is still halted since \(TransitionLog.time(since)) (\(LogText.escaped(reason.code))): one request tests the credentials first; sending resumes only if the gateway does not reject them again")
        }
        var batch = Batch()
        let stuck = try await store.turn { queue in
            let stuck = try await queue.interruptedJobs()
            for record in stuck {
                var job = record.job
                let decision = try job.handle(.recoveredAfterCrash, gate: gate, policy: policy, now: now, random: &random)
                try perform(decision, job: job, record: record, origin: .recovered(fromDaemon: nil), now: now, into: &batch)
            }
            daemon.log.tampered(try await queue.commit(batch.writes, gate: batch.gateChange, now: now))
            return stuck
        }
        durable(batch.journal)
        daemon.notifier?.notify("READY=1\nSTATUS=started; recovered \(stuck.count) interrupted job(s)")
        logger.info(
            "cancelq started: endpoint \(configuration.endpoint), concurrency \(configuration.concurrency), delay \(policy.delayAfterPayment) s, at most \(policy.maxAttempts) attempts, \(configuration.surgeLimit.isOn ? "surge hold above \(configuration.surgeLimit.holdAbove) jobs within \(DurationText.describe(configuration.surgeLimit.window))" : "surge hold off")")
    }

    /// Jobs in flight in daemons sharing the queue that stopped heartbeating: resent as after a
    /// crash (or quarantined), guarded by the store so that an answer that landed meanwhile wins.
    mutating func rescue(now: Double, from queue: any QueueTurn, into batch: inout Batch) async throws {
        for record in try await queue.abandonedJobs() where inFlight[record.id] == nil {
            var job = record.job
            let decision = try job.handle(.recoveredAfterCrash, gate: gate, policy: policy, now: now, random: &random)
            try perform(
                decision, job: job, record: record, origin: .recovered(fromDaemon: record.owner ?? "?"), now: now, into: &batch)
            batch.answeredIDs.insert(record.id)
        }
    }

    /// Counts the jobs enqueued in the trailing window (since the last approval) against the surge
    /// limit; a surge changes the gate to `held` in this turn's commit, before anything is claimed.
    /// Requests already in flight finish and are recorded as usual.
    mutating func holdIfSurge(now: Double, into batch: inout Batch) async throws {
        surgeCheckPending = false
        let limit = configuration.surgeLimit
        guard limit.isOn else { return }
        if case .held = gate { return }
        let counted = try await store.enqueuedForSurge(now: now, limit: limit)
        // Jobs committed within the window but inserted before it count as arriving when found.
        let enqueued = counted.enqueued + lateArrivals.count(after: counted.countedFrom)
        var next = gate
        guard next.surgeCounted(enqueued: enqueued, countedFrom: counted.countedFrom, limit: limit, now: now) else { return }
        gate = next
        batch.gateChange = next
    }

    /// New rows: validated and given their due time, a batch per transaction. Returns how many.
    /// `gapless`: this daemon scanned just before, so these rows were committed since then.
    @discardableResult
    mutating func discover(now: Double, gapless: Bool = false, oneBatch: Bool = false) async throws -> (seen: Int, more: Bool) {
        var seen = 0
        while true {
            var batch = Batch()
            // Each batch is a turn of its own: its rows stay locked from this read to its commit.
            let pending = try await store.turn { queue in
                let pending = try await queue.newJobs(limit: configuration.batchLimit)
                // A row set back to pending by another process while its request is in flight waits
                // for that answer: the same order is never in flight twice.
                for record in pending where inFlight[record.id] == nil {
                    var job = record.job
                    let decision = try job.handle(.discovered, gate: gate, policy: policy, now: now, random: &random)
                    try perform(decision, job: job, record: record, origin: .discovered, now: now, into: &batch)
                }
                if !batch.writes.isEmpty { daemon.log.tampered(try await queue.commit(batch.writes, gate: batch.gateChange, now: now)) }
                return pending
            }
            if pending.isEmpty { return (seen, false) }
            seen += pending.count
            if batch.writes.isEmpty { return (seen, false) }
            // Counted once they are discovered for good (a failed commit leaves them to the next scan).
            if gapless { lateArrivals.discovered(insertedAt: pending.map(\.job.enqueuedAt), now: now, limit: configuration.surgeLimit) }
            durable(batch.journal)
            if pending.count < configuration.batchLimit { return (seen, false) }
            if oneBatch { return (seen, true) }
        }
    }

    /// Claims due jobs into `batch`: `sent` and an attempt row each. The requests go out in
    /// `launch`, after the batch has committed.
    mutating func claim(now: Double, from queue: any QueueTurn, into batch: inout Batch) async throws -> Bool {
        let allowance = gate.allowance(now: now, probeInFlight: probeInFlight)
        let limit: Int
        switch allowance {
        case .any: limit = min(configuration.concurrency - inFlight.count, configuration.batchLimit)
        case .probe: limit = 1
        case .none: limit = 0
        }
        guard limit > 0 else { return false }
        let due = try await queue.dueJobs(now: now, limit: limit)
        guard !due.isEmpty else { return false }
        // Never a second request for a job already in flight, whatever its row says now.
        for record in due where inFlight[record.id] == nil && !batch.answeredIDs.contains(record.id) {
            var job = record.job
            let decision = try job.handle(.due, gate: gate, policy: policy, now: now, random: &random)
            try perform(decision, job: job, record: record, origin: .due(probe: allowance == .probe), now: now, into: &batch)
        }
        return true
    }

    /// Answers and transport failures into `batch`: each attempt row with its job's new state.
    mutating func record(_ completions: [CancellationDaemon.Completion], into batch: inout Batch) throws {
        for completion in completions {
            guard let flight = inFlight.removeValue(forKey: completion.jobID) else { continue }
            DebugCrash.ifRequested(answering: flight.record.orderNumber)
            var job = flight.record.job
            let event: JobEvent
            switch completion.outcome {
            case .answered(_, let response): event = .answered(GatewayAnswer(status: response.status, code: response.code))
            case .failed(let failure, _): event = .transportFailed(failure)
            }
            let decision = try job.handle(event, gate: gate, policy: policy, now: completion.at, random: &random)
            try perform(
                decision, job: job, record: flight.record, origin: .answered(flight, completion.outcome, at: completion.at),
                now: completion.at, into: &batch)
            batch.answeredIDs.insert(flight.record.id)
        }
    }

    /// After the batch committed: the journal, the gate announcement, and the claimed requests.
    mutating func launch(_ batch: Batch, group: inout ThrowingDiscardingTaskGroup<any Error>) {
        // A claim confirmed past its send deadline never leaves: no "sent" line for it.
        let now = ContinuousClock.now
        let late = Set(batch.flights.filter { now >= $0.0.sendBy }.map(\.0.record.id))
        durable(batch.journal.filter { !($0.decision.sends && late.contains($0.after.id)) })
        if let changed = batch.gateChange { daemon.log.announce(changed) }
        let metrics = daemon.metrics
        for (flight, request) in batch.flights {
            let jobID = flight.record.id
            let transport = daemon.transport
            let inbox = daemon.inbox
            let clock = daemon.clock
            let sendBy = flight.sendBy
            if late.contains(jobID) {
                // The commit that claimed it was confirmed too late (a lost COMMIT answer resolved
                // after the link healed, a stop): the lease may be over and the job someone else's.
                let after = now - sendBy + configuration.sendWindow
                logger.warning(
                    "order \(LogText.escaped(flight.record.orderNumber)): not sent; its claim was confirmed \(DurationText.describe(Double(after.components.seconds))) after it was made, past its send deadline (the request timeout); it is due again")
                inbox.push(
                    CancellationDaemon.Completion(
                        jobID: jobID, outcome: .failed(.notSent("the claim was confirmed after its send deadline"), httpStatus: nil),
                        at: clock()))
                continue
            }
            tally.sent += 1
            group.addTask {
                let started = metrics == nil ? nil : ContinuousClock.now
                let outcome = await transport.send(request, deadline: sendBy)
                if let metrics, let started { metrics.requestTook(ContinuousClock.now - started) }
                inbox.push(CancellationDaemon.Completion(jobID: jobID, outcome: outcome, at: clock()))
            }
        }
        metrics?.inFlight(inFlight.count)
    }

    /// Once a commit is durable: its journal lines, and the counters of `--metrics-listen`, from
    /// the same entries, so the metrics count exactly what the audit trail and the journal hold.
    func durable(_ journal: [TransitionLog.Entry]) {
        journal.forEach(daemon.log.write)
        guard let metrics = daemon.metrics else { return }
        for entry in journal { metrics.count(entry) }
    }
}

extension AttemptResult {
    /// The audit row's columns for what came back.
    init(_ outcome: TransportOutcome, counted: Bool) {
        switch outcome {
        case .answered(let status, let response):
            self.init(httpStatus: status, status: response.status, code: response.code, counted: counted)
        case .failed(let failure, let status):
            self.init(httpStatus: status, error: failure.description, counted: counted)
        }
    }
}

extension RunLoopMetrics {
    /// One performed decision: the answer (or the failure) it was fed, and the outcome it reached.
    func count(_ entry: TransitionLog.Entry) {
        countAnswer(entry)
        if case .recovered = entry.origin { rescuedJob() }
        if case .finish(let outcome) = entry.decision.next { finished(outcome) }
    }

    /// The answer (or transport failure) an entry was fed, whether or not its change was applied.
    func countAnswer(_ entry: TransitionLog.Entry) {
        guard case .answered(_, let outcome, _) = entry.origin else { return }
        switch outcome {
        case .answered(_, let response): answered(status: response.status, code: response.code)
        case .failed(let failure, _): transportFailed(failure)
        }
    }
}
