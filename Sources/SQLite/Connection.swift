import CSQLite

/// A connection to one SQLite database file: the only door to the C API for the rest of cancelq.
///
/// Not thread-safe by design: one owner uses it at a time. Writers take `BEGIN IMMEDIATE` so that
/// waiting for the write lock goes through the busy timeout instead of failing on upgrade.
public final class Connection {
    public struct Options: Sendable {
        /// Open for reading only; never creates the file.
        public var readOnly = false
        /// Create the file when missing (ignored when `readOnly`).
        public var create = true
        /// How long to wait for another connection's lock before failing with "locked".
        public var busyTimeout: Double = 5
        /// Switch the database to WAL on open (writers only; WAL is persistent in the file).
        public var walJournal = true
        /// `PRAGMA synchronous`: FULL makes every commit durable on power loss.
        public var synchronous: Synchronous = .full
        public var foreignKeys = true

        public enum Synchronous: String, Sendable {
            case off = "OFF", normal = "NORMAL", full = "FULL"
        }

        public init() {}

        public static var reader: Options {
            var options = Options()
            options.readOnly = true
            options.create = false
            return options
        }
    }

    let handle: OpaquePointer
    public let path: String
    public let options: Options
    private var cache: [String: Statement] = [:]

    public init(path: String, options: Options = Options()) throws(SQLiteError) {
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        if options.readOnly {
            flags |= SQLITE_OPEN_READONLY
        } else {
            flags |= SQLITE_OPEN_READWRITE
            if options.create { flags |= SQLITE_OPEN_CREATE }
        }
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(handle)
            throw SQLiteError(
                extendedCode: rc, message: message, sql: nil, path: path, busyTimeout: options.busyTimeout)
        }
        self.handle = handle
        self.path = path
        self.options = options
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, Int32((options.busyTimeout * 1000).rounded()))
        // The first read also detects a file that is not a database.
        try execute("PRAGMA foreign_keys = \(options.foreignKeys ? "ON" : "OFF")")
        if !options.readOnly {
            if options.walJournal {
                let mode = try queryOne("PRAGMA journal_mode = WAL") { $0.string(0) }
                guard mode?.lowercased() == "wal" else {
                    throw SQLiteError(
                        extendedCode: SQLITE_CANTOPEN, message: "could not switch to WAL (journal_mode=\(mode ?? "?"))",
                        sql: "PRAGMA journal_mode = WAL", path: path, busyTimeout: options.busyTimeout)
                }
            }
            try execute("PRAGMA synchronous = \(options.synchronous.rawValue)")
        }
        _ = try queryOne("SELECT count(*) FROM sqlite_schema") { $0.int(0) }
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32, sql: String?) -> SQLiteError {
        // The connection's message describes the last failure; the step's code may be the primary one.
        let extended = sqlite3_extended_errcode(handle)
        let code = (extended & 0xFF) == (rc & 0xFF) ? extended : rc
        return SQLiteError(
            extendedCode: code, message: String(cString: sqlite3_errmsg(handle)), sql: sql, path: path,
            busyTimeout: options.busyTimeout)
    }

    /// Runs one or more statements that take no parameters (schema scripts, pragmas).
    public func execute(_ sql: String) throws(SQLiteError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let extended = sqlite3_extended_errcode(handle)
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errorMessage)
            throw SQLiteError(
                extendedCode: (extended & 0xFF) == (rc & 0xFF) ? extended : rc, message: message, sql: sql,
                path: path, busyTimeout: options.busyTimeout)
        }
    }

    /// A prepared statement kept for the life of the connection: for statements run often.
    public func cachedStatement(_ sql: String) throws(SQLiteError) -> Statement {
        if let statement = cache[sql] { return statement }
        let statement = try Statement(connection: self, sql: sql)
        cache[sql] = statement
        return statement
    }

    /// Runs one statement; returns the number of rows it changed.
    @discardableResult
    public func run(_ sql: String, _ values: any SQLiteBindable...) throws(SQLiteError) -> Int {
        let statement = try cachedStatement(sql)
        try statement.bind(values)
        defer { statement.reset() }
        while try statement.step() {}
        return Int(sqlite3_changes64(handle))
    }

    /// Runs a query and maps every row.
    public func query<T>(
        _ sql: String, _ values: [any SQLiteBindable] = [], _ map: (Row) throws -> T
    ) throws -> [T] {
        let statement = try cachedStatement(sql)
        try statement.bind(values)
        defer { statement.reset() }
        var rows: [T] = []
        while try statement.step() {
            rows.append(try map(statement.row))
        }
        return rows
    }

    /// The first row of a query, mapped; `nil` when there is none.
    public func queryOne<T>(
        _ sql: String, _ values: [any SQLiteBindable] = [], _ map: (Row) throws(SQLiteError) -> T
    ) throws(SQLiteError) -> T? {
        let statement = try cachedStatement(sql)
        try statement.bind(values)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return try map(statement.row)
    }

    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Defines a function of no arguments that returns NULL, on this connection only. A trigger
    /// that calls it passes here and fails to prepare anywhere else ("no such function: <name>"):
    /// how a schema rule admits its own program's connections and no other.
    public func defineMarkerFunction(_ name: String) throws(SQLiteError) {
        let rc = sqlite3_create_function_v2(
            handle, name, 0, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nil,
            { context, _, _ in sqlite3_result_null(context) }, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, sql: nil) }
    }

    /// Changes whenever another connection commits: a cheap way to notice new work.
    public func dataVersion() throws(SQLiteError) -> Int64 {
        try queryOne("PRAGMA data_version") { $0.int64(0) } ?? 0
    }

    public enum TransactionKind: String, Sendable {
        /// Takes the write lock at once (through the busy timeout): for every transaction that writes.
        case immediate = "IMMEDIATE"
        /// Reads a consistent snapshot.
        case deferred = "DEFERRED"
    }

    /// Runs `body` in a transaction; commits when it returns, rolls back when it throws.
    @discardableResult
    public func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        // Prepared once and reused: transaction control is on the daemon's hot path.
        do {
            try step("BEGIN \(kind.rawValue)")
            let result = try body()
            try step("COMMIT")
            return result
        } catch {
            if isInTransaction { try? step("ROLLBACK") }
            throw error
        }
    }

    private func step(_ sql: String) throws(SQLiteError) {
        let statement = try cachedStatement(sql)
        defer { statement.reset() }
        try statement.step()
    }
}
