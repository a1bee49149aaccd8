import CancelQueue
import ZeusAPI
import CancelCore
import SQLite

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The queue on SQLite: opens the database (WAL, busy timeout, synchronous=FULL), migrates it, and
/// offers the few reads and writes the commands and the daemon need. Writes take `BEGIN IMMEDIATE`
/// and never wait on the network: a transaction here is milliseconds long.
public final class CancelStore {
    public let connection: Connection
    public let path: String
    /// Write transactions committed through `apply` (for the benchmark's commits per job).
    public internal(set) var writeTransactions = 0

    private init(connection: Connection, path: String) {
        self.connection = connection
        self.path = path
    }

    /// Opens for writing and migrates. `create` makes a missing file (group-writable, see
    /// `DatabaseFile`); without it a missing database is an error, never a new empty queue.
    /// `alongsideOtherTables` lets cancelq's tables join a database that already has others.
    public static func open(
        path: String, busyTimeout: Double = 5, synchronous: Connection.Options.Synchronous = .full,
        create: Bool = false, alongsideOtherTables: Bool = false, now: Double = QueueClock.now()
    ) throws(StoreError) -> CancelStore {
        if create { try DatabaseFile.createIfMissing(path) } else { try DatabaseFile.requireExisting(path) }
        var options = Connection.Options()
        options.busyTimeout = busyTimeout
        options.synchronous = synchronous
        options.create = false
        let connection = try connect(path, options)
        let migrator = Migrator()
        if !alongsideOtherTables {
            let others = try migrator.foreignTables(connection)
            guard others.isEmpty else { throw .foreignDatabase(path: path, tables: others) }
        }
        // After a checkpoint, truncate the WAL back to 64 MiB: a busy day does not leave a huge file.
        try storeErrors { try connection.execute("PRAGMA journal_size_limit = \(64 << 20)") }
        try migrator.migrate(connection, now: now)
        return CancelStore(connection: connection, path: path)
    }

    /// Opens an existing database for the operator's writes (`enqueue`, `requeue`, `resume`):
    /// never creates, never migrates (that is `migrate`'s or `run`'s decision), and refuses a
    /// schema that is not fully cancelq's, as `run` does.
    public static func openMigrated(path: String, busyTimeout: Double = 5) throws(StoreError) -> CancelStore {
        try DatabaseFile.requireExisting(path)
        var options = Connection.Options()
        options.busyTimeout = busyTimeout
        options.create = false
        let connection = try connect(path, options)
        let migrator = Migrator()
        let others = try migrator.foreignTables(connection)
        guard others.isEmpty else { throw .foreignDatabase(path: path, tables: others) }
        guard try migrator.isUpToDate(connection) else { throw .notMigrated(path: path) }
        let problems = try SchemaCheck.problems(connection)
        guard problems.isEmpty else { throw .schemaDamaged(path: path, problems: problems.map(\.description)) }
        return CancelStore(connection: connection, path: path)
    }

    /// Opens an existing, migrated database for reading only: never creates a file by accident.
    public static func openReadOnly(path: String, busyTimeout: Double = 5) throws(StoreError) -> CancelStore {
        try DatabaseFile.requireExisting(path)
        var options = Connection.Options.reader
        options.busyTimeout = busyTimeout
        let connection = try connect(path, options)
        guard try Migrator().isUpToDate(connection) else { throw .notMigrated(path: path) }
        return CancelStore(connection: connection, path: path)
    }

    /// What differs from the schema the migrations made (a dropped audit trigger, say).
    public func schemaProblems() throws(StoreError) -> [SchemaCheck.Problem] {
        try SchemaCheck.problems(connection)
    }

    private static func connect(_ path: String, _ options: Connection.Options) throws(StoreError) -> Connection {
        do {
            let connection = try Connection(path: path, options: options)
            // The one place cancelq opens its SQLite connections: all of them may write the audit trail.
            try CancelqWriterFunctions.define(on: connection)
            return connection
        } catch {
            throw .database(DatabaseFailure(error))
        }
    }

    /// Queues a cancellation. Idempotent: the same order again returns the existing job and its state.
    public func enqueueNow(orderNumber: String, paidAt: Double?) throws(StoreError) -> EnqueueResult
    {
        do {
            _ = try OrderNumber(validating: orderNumber)
        } catch {
            throw .invalidOrderNumber(error)
        }
        if let paidAt, !(paidAt >= 0 && paidAt.isFinite) { throw .invalidPaidAt(paidAt) }
        return try storeErrors {
            try connection.transaction {
                // The README's statement for an order that may be queued already (a conflict clause
                // is refused by the schema); the database sets the enqueue time.
                let inserted = try connection.run(
                    """
                    INSERT INTO cancellations(order_number, paid_at)
                    SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM cancellations WHERE order_number = ?)
                    """, orderNumber, paidAt, orderNumber)
                guard let record = try job(orderNumber: orderNumber) else {
                    throw StoreError.database(
                        DatabaseFailure(
                            SQLiteError(extendedCode: 1, message: "row vanished after insert", sql: nil, path: path, busyTimeout: 0)))
                }
                return EnqueueResult(record: record, created: inserted == 1)
            }
        }
    }

    public func job(orderNumber: String) throws(StoreError) -> JobRecord? {
        try storeErrors {
            try connection.query(
                "SELECT \(JobRecord.columns) FROM cancellations WHERE order_number = ?", [orderNumber]
            ) { try JobRecord(row: $0) }.first
        }
    }

    public func job(id: Int64) throws(StoreError) -> JobRecord? {
        try storeErrors {
            try connection.query("SELECT \(JobRecord.columns) FROM cancellations WHERE id = ?", [id]) {
                try JobRecord(row: $0)
            }.first
        }
    }
}
