extension SendingGate {
    /// What a shared queue stores when this daemon's gate meets the stored one: who wins a gate
    /// decision, in one place for every driver. `reconciled(withStored:now:)`, except that a hold
    /// this daemon counted from before the last approval (`approvedAt`, given since by an
    /// operator, with the stored gate no longer held) is stale: the jobs it counted were released,
    /// and the stored gate stands.
    public func merged(withStored stored: SendingGate, approvedAt: Double?, now: Double) -> SendingGate {
        let merged = reconciled(withStored: stored, now: now)
        if case .held(let surge, _) = merged, let approvedAt, approvedAt > surge.countedFrom, stored.mode != .held {
            return stored
        }
        return merged
    }
}
