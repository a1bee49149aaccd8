import ArgumentParser
import CancelQueue
import ZeusAPI

struct WithdrawCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "withdraw",
        abstract: "Take back queued cancellations before their request leaves (recorded with the operator and reason).",
        discussion:
            "A job waiting for its delay, its retry or the end of a maintenance pause becomes `withdrawn` (final; its request never leaves). Too late when a request is already in flight or the job is final: refused with the reason. Exit 1 if any order was refused. Applications do the same with INSERT INTO cancellation_withdrawals(order_number, reason) VALUES (?, ?).")

    @OptionGroup var database: DatabaseOption

    @Argument(help: "Order numbers to withdraw.")
    var orderNumbers: [String] = []

    @Option(help: ArgumentHelp("Why, kept in the audit trail (at most 1000 bytes).", valueName: "text"))
    var reason: String?

    func validate() throws {
        guard !orderNumbers.isEmpty else { throw ValidationError("give the order numbers to withdraw") }
        if let reason, reason.utf8.count > 1000 { throw ValidationError("--reason is at most 1000 bytes") }
    }

    func run() async throws {
        let results = try await QueueFactory(database).withQueue(.operate) {
            try await $0.withdraw(orderNumbers: orderNumbers, reason: reason)
        }
        var refused = 0
        for result in results {
            switch result {
            case .withdrawn(let order, let previous):
                emit("withdrawn \(LogText.escaped(order)) (was \(previous.rawValue)); its request never leaves")
            case .refused(let order, let why):
                refused += 1
                printError("not withdrawn \(LogText.escaped(order)): \(LogText.escaped(why, limit: 500))")
            }
        }
        if refused > 0 { throw ExitCode(1) }
    }
}
