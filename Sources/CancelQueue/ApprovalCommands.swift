import CancelCore

/// `cancelq approve`, written once for every driver (the rule is `ApproveResult.approval`).
extension OperatorDriver {
    /// What `approve` would release now: nil when sending is not held.
    public func heldBacklog() async throws(StoreError) -> HeldBacklog? {
        try await operatorRead { tx throws(StoreError) in
            guard case .held(let surge, let since) = try await tx.gate() else { return nil }
            return HeldBacklog(surge: surge, since: since, waiting: try await tx.waitingJobs())
        }
    }

    /// Releases a surge hold for every daemon, exactly the jobs in `shown` (nil: those counted now,
    /// named in the result). The gate is locked first, in the daemons' order; then inserts are shut
    /// out and the held jobs counted again, so nothing the prompt could not see is released.
    public func approve(
        shown: HeldBacklog? = nil, by who: String = OperatorIdentity.current(), now: Double? = nil
    ) async throws(StoreError) -> ApproveResult {
        try await operatorWrite(now: now) { tx throws(StoreError) in
            var gate = try await tx.gate()
            guard case .held = gate else { return .notHeld(gate.mode) }
            guard try await tx.shutOutInserts() else { return .busy }
            let approvedAt = try await tx.now()
            let result = ApproveResult.approval(of: gate, counted: try await tx.waitingJobs(), shown: shown, approvedAt: approvedAt)
            guard case .released(let released) = result else { return result }
            _ = gate.approve()
            try await tx.writeGate(gate, now: approvedAt)
            try await tx.writeApprovedAt(approvedAt)
            try await tx.recordAction(.approve, job: nil, operator: who, detail: released.held.approvalDetail(approvedAt: approvedAt), at: approvedAt)
            return result
        }
    }
}
