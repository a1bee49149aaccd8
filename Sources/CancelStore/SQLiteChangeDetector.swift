import CancelQueue

/// Notices commits by other processes (applications inserting, an operator's `resume`) without
/// polling the database: a `stat` of the WAL first, and SQLite's `data_version` only when the WAL
/// changed. A WAL that grew with no visible commit yet is a writer mid-commit (its wal-index update
/// raises no inotify event): re-checked every 10 ms for half a second. The daemon's own commits
/// change the WAL too: the detector tells them apart by the store's commit count, so the loop
/// needs to know nothing of WAL files.
struct SQLiteChangeDetector: ChangeDetector {
    let store: CancelStore
    private var lastWAL: CancelStore.WALSignature?
    private var lastDataVersion: Int64
    private var unconfirmedSince: Double?
    private var ownCommitsSeen: Int

    init(store: CancelStore) throws(StoreError) {
        self.store = store
        lastDataVersion = try storeErrors { try store.connection.dataVersion() }
        ownCommitsSeen = store.writeTransactions
    }

    /// Whether a WAL change awaits confirmation (the loop then wakes within 10 ms).
    var isUnconfirmed: Bool { unconfirmedSince != nil }

    /// Whether another process committed since the last look.
    mutating func noticed(now: Double) throws(StoreError) -> Bool {
        if store.writeTransactions != ownCommitsSeen {
            ownCommitsSeen = store.writeTransactions
            return try sawOwnCommit()
        }
        let wal = store.walSignature()
        guard wal != lastWAL else {
            // Seen already (by our own commit, say): nothing left to confirm.
            unconfirmedSince = nil
            return false
        }
        let version = try storeErrors { try store.connection.dataVersion() }
        if version != lastDataVersion {
            lastDataVersion = version
            lastWAL = wal
            unconfirmedSince = nil
            return true
        }
        let since = unconfirmedSince ?? now
        unconfirmedSince = since
        if now - since > 0.5 {
            // Not a commit after all (a rollback or a checkpoint): stop re-checking.
            lastWAL = wal
            unconfirmedSince = nil
        }
        return false
    }

    /// After our own commit the WAL changed too: note it as seen. Returns whether a foreign commit
    /// landed before or after ours (data_version counts only other connections' commits).
    private mutating func sawOwnCommit() throws(StoreError) -> Bool {
        lastWAL = store.walSignature()
        // Left set, the 10 ms re-check would run forever after a backlog (~94 wake-ups a second).
        unconfirmedSince = nil
        let version = try storeErrors { try store.connection.dataVersion() }
        guard version != lastDataVersion else { return false }
        lastDataVersion = version
        return true
    }
}
