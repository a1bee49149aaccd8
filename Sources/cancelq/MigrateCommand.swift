import ArgumentParser
import CancelStore

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create the database or bring its schema up to date (safe to run again).")

    @OptionGroup var database: DatabaseOption

    func run() throws {
        let path = try database.resolved()
        let store = try CancelStore.open(path: path)
        let version = Migrator().latestVersion
        _ = store
        print("\(path): schema at version \(version), up to date")
    }
}
