import CSQLite

/// A failed SQLite call: the extended result code, SQLite's own message, the SQL that failed, and
/// a description an operator can act on.
public struct SQLiteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The extended result code (e.g. `SQLITE_CONSTRAINT_CHECK`, 275).
    public let extendedCode: Int32
    /// SQLite's message (`sqlite3_errmsg`).
    public let message: String
    /// The statement that failed, when there was one.
    public let sql: String?
    /// The database file, for the message.
    public let path: String
    /// The busy timeout that was in force, to explain a "locked" error.
    public let busyTimeout: Double

    public init(extendedCode: Int32, message: String, sql: String?, path: String, busyTimeout: Double) {
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
        self.path = path
        self.busyTimeout = busyTimeout
    }

    /// The primary result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT`, ...).
    public var primaryCode: Int32 { extendedCode & 0xFF }

    /// Another connection held the lock longer than the busy timeout.
    public var isLocked: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }
    public var isUniqueViolation: Bool {
        extendedCode == Self.constraintUnique || extendedCode == Self.constraintPrimaryKey
    }
    public var isCheckViolation: Bool { extendedCode == Self.constraintCheck }
    /// A trigger's `RAISE(ABORT, ...)`.
    public var isTriggerAbort: Bool { extendedCode == Self.constraintTrigger }

    // Extended codes are compound C macros that Swift cannot import (sqlite3.h).
    static let constraintCheck = SQLITE_CONSTRAINT | (1 << 8)
    static let constraintPrimaryKey = SQLITE_CONSTRAINT | (6 << 8)
    static let constraintTrigger = SQLITE_CONSTRAINT | (7 << 8)
    static let constraintUnique = SQLITE_CONSTRAINT | (8 << 8)
    public var isNotADatabase: Bool { primaryCode == SQLITE_NOTADB }
    /// The file system holding the database (or its WAL) has no room left: nothing was written.
    public var isDiskFull: Bool { primaryCode == SQLITE_FULL }

    public var description: String {
        let explanation: String
        switch primaryCode {
        case SQLITE_BUSY, SQLITE_LOCKED:
            explanation =
                "database is locked: another process held the write lock for longer than the "
                + "\(formatSeconds(busyTimeout)) busy timeout (\(message)); retry, or find the long writer"
        case SQLITE_NOTADB:
            explanation = "\(path) is not an SQLite database (\(message))"
        case SQLITE_CANTOPEN:
            explanation =
                "cannot open \(path): \(message); check that the path exists and that this user may "
                + "read and write it and its directory"
        case SQLITE_READONLY:
            explanation = "\(path) is read-only for this connection (\(message)); check file permissions"
        case SQLITE_CORRUPT:
            explanation = "\(path) is corrupt (\(message)); restore it from a backup"
        case SQLITE_FULL:
            explanation = "the disk holding \(path) is full (\(message))"
        case SQLITE_IOERR:
            explanation = "disk I/O error on \(path) (\(message))"
        case SQLITE_CONSTRAINT:
            explanation = "refused by the schema: \(message)"
        default:
            explanation = message
        }
        let codeName = String(cString: sqlite3_errstr(extendedCode))
        guard let sql else { return "\(explanation) [\(codeName), code \(extendedCode)]" }
        // One line: a migration's whole script is no message.
        let oneLine = sql.split(whereSeparator: \.isNewline).map { $0.trimmingPrefix(while: \.isWhitespace) }.joined(separator: " ")
        let shown = oneLine.count > 160 ? oneLine.prefix(160) + "…" : Substring(oneLine)
        return "\(explanation) [\(codeName), code \(extendedCode)] in SQL: \(shown)"
    }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}
