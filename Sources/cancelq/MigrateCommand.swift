import ArgumentParser
import Logging
import CancelPostgres
import CancelQueue
import CancelStore

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create the database or bring its schema up to date; restore dropped triggers and indexes (safe to run again).")

    @OptionGroup var database: DatabaseOption

    @Flag(name: .customLong("alongside-other-tables"), help: "Add cancelq's tables to a database that already has other tables.")
    var alongsideOtherTables = false

    func run() async throws {
        let path: String
        switch try database.target() {
        case .sqlite(let file): path = file
        case .postgres(let location):
            let queue = PostgresQueue(location: location, node: PostgresQueue.defaultNodeName(), logger: .init(label: "cancelq"))
            let applied: [String]
            let repair: (repaired: [String], remaining: [String])
            do {
                applied = try await queue.migrate(alongsideOtherTables: alongsideOtherTables)
                repair = try await queue.repairSchema()
            } catch {
                await queue.close()
                throw error
            }
            await queue.close()
            for name in applied { emit("applied \(name)") }
            for problem in repair.repaired { emit("repaired: \(problem)") }
            guard repair.remaining.isEmpty else {
                throw CommandFailure("\(location): cannot repair \(repair.remaining.joined(separator: "; "))")
            }
            emit("\(location): schema at version \(PostgresQueue.latestVersion), up to date")
            return
        }
        let store = try CancelStore.open(path: path, create: true, alongsideOtherTables: alongsideOtherTables)
        let before = try store.schemaProblems()
        let remaining = try SchemaCheck.repair(store.connection)
        for problem in before where !remaining.contains(problem) {
            emit("repaired: \(problem)")
        }
        guard remaining.isEmpty else {
            throw CommandFailure(
                "\(path): cannot repair \(remaining.map(\.description).joined(separator: "; ")): a changed table needs the backup")
        }
        emit("\(path): schema at version \(Migrator().latestVersion), up to date")
    }
}
