import ArgumentParser
import CancelDaemon
import CancelCopy
import CancelPostgres
import CancelQueue
import CancelStore

struct CopyToPostgresCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-to-postgresql",
        abstract: "Copy a SQLite queue with its whole audit trail into an empty PostgreSQL queue (moving up to several hosts).",
        discussion: """
            Stop `cancelq run` first: the copy refuses a SQLite queue a daemon holds, and holds its lock
            until done. The target must be migrated (`cancelq migrate --db URL`) and empty. One
            transaction: all rows or none; counts are compared before it commits. The sending gate
            comes with it, and the last approval, from which the next surge is counted. Jobs the last
            SQLite run left in flight are resent by the first PostgreSQL daemon, as after a crash.
            """)

    @Option(name: .customLong("from"), help: ArgumentHelp("The SQLite queue to copy.", valueName: "path"))
    var source: String

    @OptionGroup var database: DatabaseOption

    func run() async throws {
        guard case .postgres(let location) = try database.target() else {
            throw CommandFailure("--db must be the postgresql:// URL of the target queue")
        }
        // Before the lock, which would create a missing file (and report it as not migrated).
        try DatabaseFile.requireExisting(source)
        // Held for the whole copy: no daemon starts on the SQLite queue meanwhile.
        let lock: DatabaseLock
        do {
            lock = try DatabaseLock.acquire(database: source)
        } catch {
            throw CommandFailure("cannot copy \(source): \(error) (stop `cancelq run` on it first)")
        }
        let sqlite = try CancelStore.openMigrated(path: lock.realPath)
        let target = try await PostgresQueue.open(location: location, node: PostgresQueue.defaultNodeName())
        let report = try await QueueFactory.closing(target) { queue in
            try await queue.importQueue(from: sqlite) { table, rows in
                if rows % 100_000 == 0 { printError("copying \(table): \(rows) row(s)") }
            }
        }
        withExtendedLifetime(lock) {}
        for table in ["cancellations", "cancellation_attempts", "operator_actions", "cancellation_withdrawals"] {
            emit("copied \(report.rows[table] ?? 0) row(s) of \(table); counts match")
        }
        emit("\(location) now holds the queue. Point every `cancelq run` and application at it; keep \(source) as a backup")
    }
}
