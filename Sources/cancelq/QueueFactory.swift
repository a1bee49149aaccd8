import CancelPostgres
import CancelQueue
import CancelStore
import Logging

/// The one place that knows which driver a `--db` names. Every command gets its queue here and
/// then talks to the queue layer only.
struct QueueFactory {
    let target: DatabaseOption.Target

    init(_ database: DatabaseOption) throws {
        target = try database.target()
    }

    /// How a command uses the queue.
    enum Access {
        /// `status`: reads only, never creates or migrates, never blocks the daemon.
        case read
        /// The operators' writes (`enqueue`, `requeue`, `withdraw`, ...): an existing queue whose
        /// schema is fully cancelq's; never created, never migrated.
        case operate
    }

    /// Opens the queue for `body` and closes it after.
    func withQueue<T>(_ access: Access, _ body: (any CommandQueue) async throws -> T) async throws -> T {
        let queue: any CommandQueue
        switch target {
        case .sqlite(let path):
            queue = access == .read ? try CancelStore.openReadOnly(path: path) : try CancelStore.openMigrated(path: path)
        case .postgres(let location):
            queue = try await PostgresQueue.open(location: location, node: PostgresQueue.defaultNodeName())
        }
        return try await Self.closing(queue, after: body)
    }

    /// `body` on `queue`, which is closed after it however it ends.
    static func closing<Queue: CommandQueue, T>(_ queue: Queue, after body: (Queue) async throws -> T) async throws -> T {
        do {
            let value = try await body(queue)
            await queue.close()
            return value
        } catch {
            await queue.close()
            throw error
        }
    }

    /// What `migrate` did: migrations applied, damage repaired, damage left, the version now.
    struct Migrated {
        var applied: [String] = []
        var repaired: [String]
        var remaining: [String]
        var version: Int
        var location: String
    }

    /// Creates the queue or brings its schema up to date, and restores what a migration made and
    /// someone dropped.
    func migrate(alongsideOtherTables: Bool) async throws -> Migrated {
        switch target {
        case .sqlite(let path):
            let store = try CancelStore.open(path: path, create: true, alongsideOtherTables: alongsideOtherTables)
            let before = try store.schemaProblems()
            let remaining = try SchemaCheck.repair(store.connection)
            return Migrated(
                repaired: before.filter { !remaining.contains($0) }.map(\.description), remaining: remaining.map(\.description),
                version: Migrator().latestVersion, location: path)
        case .postgres(let location):
            let queue = PostgresQueue(location: location, node: PostgresQueue.defaultNodeName(), logger: Logger(label: "cancelq"))
            do {
                let applied = try await queue.migrate(alongsideOtherTables: alongsideOtherTables)
                let repair = try await queue.repairSchema()
                await queue.close()
                return Migrated(
                    applied: applied, repaired: repair.repaired, remaining: repair.remaining, version: PostgresQueue.latestVersion,
                    location: location.description)
            } catch {
                await queue.close()
                throw error
            }
        }
    }
}
