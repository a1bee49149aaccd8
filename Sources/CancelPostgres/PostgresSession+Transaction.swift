import CancelQueue
import PostgresNIO

/// Transactions on the session: begun, committed or rolled back as one unit, never continued on a
/// new connection after the one they began on was lost.
extension PostgresSession {
    func begin() async throws(StoreError) {
        guard !inTransaction else { return }
        transactionLost = false
        try await rows("BEGIN")
        inTransaction = true
    }

    func commit() async throws(StoreError) {
        guard inTransaction else {
            guard !transactionLost else {
                transactionLost = false
                throw .unavailable(location: location.description, reason: Self.lostTransaction)
            }
            return
        }
        // Still in the transaction while COMMIT is sent: a connection closed meanwhile fails it,
        // never a COMMIT on a new connection that "succeeds" with nothing to commit.
        defer { inTransaction = false }
        try await rows("COMMIT")
    }

    static let lostTransaction = "the connection was lost inside the transaction: nothing of it was committed"

    /// A new unit of work after a transaction whose connection was lost (its reads' locks are gone
    /// with it; the writes that follow are guarded by state and owner and begin a new one).
    func forgetLostTransaction() { transactionLost = false }

    /// Ends an open transaction without its changes (after a statement failed inside it).
    func rollback() async {
        transactionLost = false
        guard inTransaction else { return }
        inTransaction = false
        do { try await rows("ROLLBACK") } catch { drop() }
    }

    /// Runs `body` in a transaction of its own: committed when it returns, rolled back when it throws.
    func transaction<T>(_ body: () async throws(StoreError) -> T) async throws(StoreError) -> T {
        await rollback()
        try await begin()
        return try await committing(body)
    }

    /// Runs `body`'s reads in one snapshot (REPEATABLE READ), or inside the transaction already open.
    func snapshot<T>(_ body: () async throws(StoreError) -> T) async throws(StoreError) -> T {
        if inTransaction { return try await body() }
        transactionLost = false
        try await rows("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        inTransaction = true
        return try await committing(body)
    }

    /// `body` inside the transaction just begun: committed when it returns, rolled back when it throws.
    private func committing<T>(_ body: () async throws(StoreError) -> T) async throws(StoreError) -> T {
        do {
            let value = try await body()
            try await commit()
            return value
        } catch {
            await rollback()
            throw error
        }
    }
}
