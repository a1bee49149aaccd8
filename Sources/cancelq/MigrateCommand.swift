import ArgumentParser
import CancelStore

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create the database or bring its schema up to date; restore dropped triggers and indexes (safe to run again).")

    @OptionGroup var database: DatabaseOption

    @Flag(name: .customLong("alongside-other-tables"), help: "Add cancelq's tables to a database that already has other tables.")
    var alongsideOtherTables = false

    func run() throws {
        let path = try database.resolved()
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
