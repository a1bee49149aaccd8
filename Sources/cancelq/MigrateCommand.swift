import ArgumentParser

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create the database or bring its schema up to date; restore dropped triggers and indexes (safe to run again).")

    @OptionGroup var database: DatabaseOption

    @Flag(name: .customLong("alongside-other-tables"), help: "Add cancelq's tables to a database that already has other tables.")
    var alongsideOtherTables = false

    func run() async throws {
        let migrated = try await QueueFactory(database).migrate(alongsideOtherTables: alongsideOtherTables)
        for name in migrated.applied { emit("applied \(name)") }
        for problem in migrated.repaired { emit("repaired: \(problem)") }
        guard migrated.remaining.isEmpty else {
            throw CommandFailure(
                "\(migrated.location): cannot repair \(migrated.remaining.joined(separator: "; ")): a changed table needs the backup")
        }
        emit("\(migrated.location): schema at version \(migrated.version), up to date")
    }
}
