import ArgumentParser
import ZeusAPI
import CancelCore
import CancelQueue

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Lift a credential halt, or end a maintenance pause now with one probe (the running daemon notices at once).")

    @OptionGroup var database: DatabaseOption

    func run() async throws {
        let previous = try await QueueFactory(database).withQueue(.operate) { try await $0.resumeSending() }
        switch previous {
        case .open:
            emit("sending was not paused or halted; nothing to do")
        case .unreachable:
            emit("the wait for the unreachable gateway ended: one probe goes at once; its answer decides whether every job resumes")
        case .paused:
            emit("maintenance pause ended: one probe job goes at once; its answer decides whether every job resumes")
        case .halted(let reason, _):
            emit(
                "halted (\(LogText.escaped(reason.code))): one request now tests the credentials; sending resumes unless the gateway rejects them again (a key or client IP still wrong costs that one request)")
        case .testingCredentials:
            emit("a test of the credentials is already under way (one request); nothing to do")
        case .held:
            throw CommandFailure("sending is held after a surge of new jobs, which resume does not release: check the queue, then `cancelq approve`")
        }
    }
}
