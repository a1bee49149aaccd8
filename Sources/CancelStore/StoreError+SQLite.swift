import CancelQueue
import SQLite

extension DatabaseFailure {
    /// SQLite's error, as the queue layer sees a database failure.
    init(_ error: SQLiteError) {
        self.init(description: error.description, isLocked: error.isLocked, isDiskFull: error.isDiskFull, code: Int(error.extendedCode))
    }
}

/// Runs `body`, turning SQLite's errors into `StoreError`.
func storeErrors<T>(_ body: () throws -> T) throws(StoreError) -> T {
    do {
        return try body()
    } catch let error as StoreError {
        throw error
    } catch let error as SQLiteError {
        throw .database(DatabaseFailure(error))
    } catch {
        throw .database(DatabaseFailure(SQLiteError(extendedCode: 1, message: "\(error)", sql: nil, path: "", busyTimeout: 0)))
    }
}
