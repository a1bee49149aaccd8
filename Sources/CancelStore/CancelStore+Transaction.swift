import CancelQueue
import SQLite

extension CancelStore {
    /// `body` in one transaction, which it may await inside (the connection's one user
    /// awaits it: nothing else runs on it meanwhile): committed when it returns, rolled back when it throws.
    func transaction<T>(_ kind: Connection.TransactionKind, _ body: () async throws(StoreError) -> T) async throws(StoreError) -> T {
        try storeErrors { _ = try connection.run(kind == .immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED") }
        do {
            let value = try await body()
            try storeErrors { _ = try connection.run("COMMIT") }
            return value
        } catch {
            if connection.isInTransaction { _ = try? connection.run("ROLLBACK") }
            throw error
        }
    }
}
