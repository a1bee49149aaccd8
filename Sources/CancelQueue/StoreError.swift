import ZeusAPI
import CancelCore

/// What can go wrong with the queue's database, said so an operator knows what to do.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case databaseMissing(path: String)
    case isDirectory(path: String)
    case parentDirectoryMissing(path: String, directory: String)
    case cannotAccess(path: String, reason: String)
    /// A database with other tables and no cancelq schema: probably not the queue.
    case foreignDatabase(path: String, tables: [String])
    /// Triggers, constraints or indexes differ from what the migrations made.
    case schemaDamaged(path: String, problems: [String])
    case invalidOrderNumber(FieldError)
    case invalidPaidAt(Double)
    case migrationChanged(version: Int, name: String)
    case databaseNewerThanBinary(databaseVersion: Int, binaryVersion: Int)
    case migrationFailed(name: String, DatabaseFailure)
    case notMigrated(path: String)
    /// A shared queue (PostgreSQL) at an older schema: only `migrate` changes it, never `run`.
    case schemaBehind(path: String, databaseVersion: Int, binaryVersion: Int)
    case jobChangedUnderneath(id: Int64, expected: State)
    /// A value in the database that no version of cancelq writes (an edited row, a newer binary).
    case unknownStoredValue(column: String, value: String)
    /// The database refused or failed a statement (SQLite: its result code and message).
    case database(DatabaseFailure)
    /// The database server cannot be reached, or the connection dropped: retrying later can succeed.
    case unavailable(location: String, reason: String)
    /// The server refused the login: the password, the user or pg_hba.conf.
    case authenticationFailed(location: String, reason: String)
    /// The server refused a statement (a constraint, a permission): not retried.
    case server(location: String, message: String, constraint: String?, sqlState: String = "")
    /// Another daemon with the same --node-name is alive on the shared queue.
    case nodeNameTaken(node: String, host: String, pid: Int)

    /// Another connection held the lock past the busy timeout; retrying later can succeed.
    public var isLocked: Bool {
        if case .database(let failure) = self { return failure.isLocked }
        return false
    }

    /// The disk holding the database is full (SQLITE_FULL, or PostgreSQL's disk_full): nothing
    /// was written; once space is freed the same write succeeds.
    public var isDiskFull: Bool {
        switch self {
        case .database(let failure): failure.isDiskFull
        case .unavailable(_, let reason): reason.hasPrefix(Self.serverDiskFull)
        default: false
        }
    }

    /// How a store says that the database server's disk is full (an `unavailable` reason).
    public static let serverDiskFull = "the database server's disk is full"

    /// Whether waiting and trying again can succeed: a lock held too long, a server out of reach,
    /// a full disk.
    public var isTransient: Bool {
        if case .unavailable = self { return true }
        // A lock or statement timeout set on the role, or a transaction the database ended: the
        // transaction is rolled back and the same work succeeds when tried again.
        if case .server(_, _, _, let state) = self, state == "55P03" || state == "57014" || state.hasPrefix("25P") { return true }
        return isLocked || isDiskFull
    }

    public var description: String {
        switch self {
        case .databaseMissing(let path):
            return "no database at \(path); create it with `cancelq migrate --db \(path)` (or start `cancelq run`)"
        case .isDirectory(let path):
            return "\(path) is a directory; --db takes the database file, e.g. \(path.hasSuffix("/") ? path : path + "/")queue.db"
        case .parentDirectoryMissing(let path, let directory):
            return "cannot use \(path): the directory \(directory) does not exist"
        case .cannotAccess(let path, let reason):
            return "cannot use \(path): \(reason); check the path and that this user may read and write it"
        case .foreignDatabase(let path, let tables):
            let shown = tables.prefix(5).joined(separator: ", ") + (tables.count > 5 ? ", …" : "")
            return "\(path) already holds \(tables.count) other table(s) (\(shown)) and no cancelq schema: is --db the right file? "
                + "To add cancelq's tables to it on purpose: cancelq migrate --db \(path) --alongside-other-tables"
        case .schemaDamaged(let path, let problems):
            return "the schema of \(path) is not what cancelq made: \(problems.joined(separator: "; ")). "
                + "`cancelq migrate --db \(path)` restores triggers and indexes; a changed table needs the backup"
        case .invalidOrderNumber(let error):
            return "invalid order number: \(error)"
        case .invalidPaidAt(let value):
            return "invalid paid-at \(value): expected unix seconds (0 or more)"
        case .migrationChanged(let version, let name):
            return "migration \(version) (\(name)) was applied with different text than this binary has; "
                + "the schema may not be what the code expects. Restore the original migration or the database"
        case .databaseNewerThanBinary(let databaseVersion, let binaryVersion):
            return "the database is at schema version \(databaseVersion) but this cancelq knows only up to "
                + "\(binaryVersion); run the newer cancelq that migrated it"
        case .migrationFailed(let name, let error):
            return "migration \(name) failed and was rolled back: \(error)"
        case .notMigrated(let path):
            return "\(path) has no cancelq schema; run `cancelq migrate --db \(path)` first"
        case .schemaBehind(let path, let databaseVersion, let binaryVersion):
            return "\(path) is at schema version \(databaseVersion) and this cancelq needs \(binaryVersion): run "
                + "`cancelq migrate --db \(path)` once (the daemons already running keep working meanwhile)"
        case .jobChangedUnderneath(let id, let expected):
            return "job \(id) was no longer in state \(expected.rawValue) when the daemon recorded its change; "
                + "another process is writing job states (only one `cancelq run` may use a database)"
        case .unknownStoredValue(let column, let value):
            return "\(column) holds '\(String(value.prefix(40)))', which this cancelq does not know; was the row edited by hand, or written by a newer cancelq?"
        case .database(let failure):
            return failure.description
        case .unavailable(let location, let reason):
            return "cannot reach the database \(location): \(reason)"
        case .authenticationFailed(let location, let reason):
            return "the database \(location) refused the login: \(reason). Check the user, the password "
                + "(--db-password-file, the credential db-password or PGPASSWORD) and pg_hba.conf"
        case .server(let location, let message, let constraint, _):
            return "the database \(location) refused: \(message)" + (constraint.map { " (constraint \($0))" } ?? "")
        case .nodeNameTaken(let node, let host, let pid):
            return "another cancelq run named \(node) is alive on this queue (pid \(pid) on \(host)); give each daemon its own --node-name"
        }
    }
}

/// A stored enum value, or a typed error naming the column: never a silent default.
public func stored<T: RawRepresentable>(_ raw: String, as type: T.Type, column: String) throws(StoreError) -> T where T.RawValue == String {
    guard let value = T(rawValue: raw) else { throw .unknownStoredValue(column: column, value: raw) }
    return value
}
