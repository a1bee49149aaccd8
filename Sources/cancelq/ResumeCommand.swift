import ArgumentParser
import CancelStore

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Lift a credential halt or a maintenance pause now (the running daemon notices within a second).")

    @OptionGroup var database: DatabaseOption

    func run() throws {
        let path = try database.resolved()
        let previous = try CancelStore.openMigrated(path: path).resumeSending()
        switch previous {
        case .open:
            emit("sending was not paused or halted; nothing to do")
        case .paused:
            emit("maintenance pause lifted: paused jobs are due now")
        case .halted(let reason, _):
            emit("halt lifted (was: \(reason.code)). If the key or client IP is still wrong, the next request halts again")
        }
    }
}
