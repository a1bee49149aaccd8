import ArgumentParser
import CancelConsole
import CancelCore
import CancelQueue
import ZeusAPI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Release a surge hold: the jobs waiting now are sent (recorded with the operator).",
        discussion:
            "Shows what it releases and asks for confirmation on a terminal; --yes for scripts (without a terminal, --yes is required). Jobs enqueued after the approval count toward the next surge, which holds again. Exit 1 when nothing is held or the answer is not yes.")

    @OptionGroup var database: DatabaseOption

    @Flag(help: "Approve without asking (scripts).")
    var yes = false

    func run() async throws {
        try await QueueFactory(database).withQueue(.operate) { try await approve(on: $0) }
    }

    /// Shows the held backlog, asks on a terminal (or takes --yes), then approves exactly what was
    /// shown; when the held jobs changed meanwhile, shows them again and asks again.
    private func approve(on queue: any CommandQueue) async throws {
        let database = queue.location
        guard var shown = try await queue.heldBacklog() else {
            throw CommandFailure("sending is not held (it is \(try await queue.loadGate().mode.rawValue)): nothing to approve")
        }
        guard yes || isatty(STDIN_FILENO) == 1 else {
            throw CommandFailure(
                "\(ApprovalText.summary(shown)) No terminal to confirm on: check the queue (cancelq status), then run `cancelq approve --db \(LogText.escaped(database)) --yes`")
        }
        while true {
            if !yes {
                emit(ApprovalText.summary(shown))
                emit("Release them? Type yes to approve: ", newline: false)
                guard readLine().map({ $0.filter { !$0.isWhitespace }.lowercased() }) == "yes" else {
                    throw CommandFailure("not approved: sending stays held")
                }
            }
            switch try await queue.approve(shown: yes ? nil : shown) {
            case .released(let released):
                emit(ApprovalText.released(released.held, approvedAt: released.approvedAt))
                return
            case .changed(_, let now):
                emit(ApprovalText.changed(shown: shown, now: now))
                shown = now
            case .busy:
                throw CommandFailure(ApprovalText.busy)
            case .notHeld(let mode):
                throw CommandFailure("sending is no longer held (it is \(mode.rawValue)): nothing approved")
            }
        }
    }
}
