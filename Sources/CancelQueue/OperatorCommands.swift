import CancelCore

/// What operators do by hand, written once for every driver: the core decides (`requeue`,
/// `SendingGate.resumed`, `withdraw`, `ApproveResult.approval`), the driver's transaction
/// stores the result, and each action goes into `operator_actions` for the audit trail.
extension OperatorDriver {
    /// Puts `failed` jobs back to `pending` with a fresh attempt budget. Anything else is refused
    /// with the reason; a refusal does not stop the others. One transaction.
    public func requeue(
        orderNumbers: [String], by who: String = OperatorIdentity.current(), now: Double? = nil
    ) async throws(StoreError) -> [RequeueResult] {
        try await operatorWrite(now: now) { tx throws(StoreError) in
            var results: [RequeueResult] = []
            for order in orderNumbers {
                guard let record = try await tx.lockedJob(orderNumber: order) else {
                    results.append(.refused(orderNumber: order, reason: "no such order in the queue"))
                    continue
                }
                results.append(try await requeue(record, in: tx, by: who))
            }
            return results
        }
    }

    /// Requeues every failed job.
    public func requeueAllFailed(by who: String = OperatorIdentity.current(), now: Double? = nil) async throws(StoreError)
        -> [RequeueResult]
    {
        try await operatorWrite(now: now) { tx throws(StoreError) in
            var results: [RequeueResult] = []
            for record in try await tx.lockedJobs(in: .failed) {
                results.append(try await requeue(record, in: tx, by: who))
            }
            return results
        }
    }

    private func requeue(_ record: JobRecord, in tx: any OperatorTransaction, by who: String) async throws(StoreError)
        -> RequeueResult
    {
        var job = record.job
        do {
            _ = try job.requeue()
        } catch {
            return .refused(orderNumber: record.orderNumber, reason: "it is \(record.state.rawValue): \(error.reason)")
        }
        var updated = record
        updated.job = job
        let now = try await tx.now()
        // The row is locked: it cannot have moved since the read, but the guard does not rely on it.
        guard try await tx.write(JobWrite(expectedState: record.state, record: updated), now: now) else {
            return .refused(orderNumber: record.orderNumber, reason: "it changed while being requeued; look again")
        }
        let previous = record.job.outcome?.rawValue
        try await tx.recordAction(
            .requeue, job: record.id, operator: who,
            detail: "was failed (\(previous ?? "-")) after \(record.job.attemptCount) counted attempt(s); fresh attempt budget", at: now)
        return .requeued(orderNumber: record.orderNumber, previousOutcome: previous)
    }

    /// `cancelq resume` (what it does is `SendingGate.resumed`): returns what the gate was.
    public func resumeSending(by who: String = OperatorIdentity.current(), now: Double? = nil) async throws(StoreError)
        -> SendingGate
    {
        try await operatorWrite(now: now) { tx throws(StoreError) in
            let previous = try await tx.gate()
            let now = try await tx.now()
            guard let (resumed, detail) = previous.resumed(now: now) else { return previous }
            try await tx.writeGate(resumed, now: now)
            try await tx.makePausedJobsDue(now: now)
            try await tx.recordAction(.resume, job: nil, operator: who, detail: detail, at: now)
            return previous
        }
    }

    /// Withdraws each order before its request leaves, as an application's insert into
    /// `cancellation_withdrawals` does (its trigger is the one place a job becomes `withdrawn`),
    /// and records the operator. One transaction per order: a refusal does not stop the others.
    public func withdraw(
        orderNumbers: [String], reason: String?, by who: String = OperatorIdentity.current(), now: Double? = nil
    ) async throws(StoreError) -> [WithdrawResult] {
        var results: [WithdrawResult] = []
        for order in orderNumbers {
            results.append(try await withdraw(order, reason: reason, by: who, now: now))
        }
        return results
    }

    private func withdraw(_ order: String, reason: String?, by who: String, now: Double?) async throws(StoreError)
        -> WithdrawResult
    {
        try await operatorWrite(now: now) { tx throws(StoreError) in
            guard let record = try await tx.lockedJob(orderNumber: order) else {
                return .refused(orderNumber: order, reason: "no such order in the queue")
            }
            var job = record.job
            do throws(ImpossibleEvent) {
                _ = try job.withdraw()
            } catch {
                return .refused(orderNumber: order, reason: WithdrawResult.tooLate(record.state, error))
            }
            // The trigger decides again; it refuses if a request may have left since the read.
            if let refusal = try await tx.insertWithdrawal(orderNumber: order, reason: reason) {
                return .refused(orderNumber: order, reason: refusal.description)
            }
            try await tx.recordAction(
                .withdraw, job: record.id, operator: who,
                detail: "was \(record.state.rawValue); \(reason.map { "reason: \($0)" } ?? "no reason given")", at: try await tx.now())
            return .withdrawn(orderNumber: order, previousState: record.state)
        }
    }

    /// The job of `orderNumber` and its whole audit trail, read in one snapshot.
    public func timeline(orderNumber: String) async throws(StoreError) -> OrderTimeline? {
        try await operatorRead { tx throws(StoreError) in
            guard let record = try await tx.lockedJob(orderNumber: orderNumber) else { return nil }
            return OrderTimeline(
                record: record, attempts: try await tx.attempts(ofJob: record.id),
                operatorActions: try await tx.operatorActions(onJob: record.id),
                withdrawals: try await tx.withdrawals(ofOrder: record.orderNumber))
        }
    }
}
