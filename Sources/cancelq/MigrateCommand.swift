import ArgumentParser
import CancelStore

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create the database or bring its schema up to date (safe to run again).")

    @OptionGroup var database: DatabaseOption

    func run() throws {
        let path = try database.resolved()
        _ = try CancelStore.open(path: path)  // creates the file when missing, then migrates it
        emit("\(path): schema at version \(Migrator().latestVersion), up to date")
    }
}
