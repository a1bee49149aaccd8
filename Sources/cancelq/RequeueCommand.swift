import ArgumentParser
import CancelQueue
import ZeusAPI

struct RequeueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue",
        abstract: "Send failed jobs again with a fresh attempt budget (recorded in the audit trail).",
        discussion: "Only `failed` jobs move; any other is refused with the reason. Exit 1 if any was refused.")

    @OptionGroup var database: DatabaseOption

    @Argument(help: "Order numbers of failed jobs.")
    var orderNumbers: [String] = []

    @Flag(name: .customLong("all-failed"), help: "Requeue every failed job.")
    var allFailed = false

    func validate() throws {
        guard allFailed != !orderNumbers.isEmpty else {
            throw ValidationError("give order numbers or --all-failed (not both)")
        }
    }

    func run() async throws {
        let results = try await QueueFactory(database).withQueue(.operate) { queue in
            allFailed ? try await queue.requeueAllFailed() : try await queue.requeue(orderNumbers: orderNumbers)
        }
        var refused = 0
        for result in results {
            switch result {
            case .requeued(let order, let outcome):
                emit("requeued \(LogText.escaped(order)) (was failed: \(LogText.escaped(outcome ?? "-"))); the daemon sends it again")
            case .refused(let order, let reason):
                refused += 1
                printError("refused \(LogText.escaped(order)): \(LogText.escaped(reason, limit: 500))")
            }
        }
        if results.isEmpty { emit("no failed job to requeue") }
        if refused > 0 { throw ExitCode(1) }
    }
}
