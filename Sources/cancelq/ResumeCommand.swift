import ArgumentParser
import CancelCore
import CancelPostgres
import CancelStore

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Lift a credential halt, or end a maintenance pause now with one probe (the running daemon notices at once).")

    @OptionGroup var database: DatabaseOption

    func run() async throws {
        let previous: SendingGate
        switch try database.target() {
        case .sqlite(let path):
            previous = try CancelStore.openMigrated(path: path).resumeSending()
        case .postgres(let location):
            previous = try await withPostgresQueue(location) { try await $0.resumeSending(operator: OperatorIdentity.current()) }
        }
        switch previous {
        case .open:
            emit("sending was not paused or halted; nothing to do")
        case .paused:
            emit("maintenance pause ended: one probe job goes at once; its answer decides whether every job resumes")
        case .halted(let reason, _):
            emit("halt lifted (was: \(reason.code)). If the key or client IP is still wrong, the next request halts again")
        case .held:
            throw CommandFailure("sending is held after a surge of new jobs, which resume does not release: check the queue, then `cancelq approve`")
        }
    }
}
