import ArgumentParser
import CancelQueue
import ZeusAPI

struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Queue the cancellation of one order (idempotent: an order already queued is reported, not duplicated).",
        discussion: """
            Applications usually insert into the `cancellations` table directly; this command does the
            same for operators and scripts. Exit status 0 when queued or already queued.
            """)

    @OptionGroup var database: DatabaseOption

    @Argument(help: "The order number to cancel: 1 to 50 bytes of printable ASCII, no spaces.")
    var orderNumber: String

    @Option(name: .customLong("paid-at"), help: ArgumentHelp(
        "Unix seconds of the PayRes success; the request waits until then + the delay. Default: now.",
        valueName: "unix-seconds"))
    var paidAt: Double?

    func run() async throws {
        let result = try await QueueFactory(database).withQueue(.operate) {
            try await $0.enqueue(orderNumber: orderNumber, paidAt: paidAt)
        }
        let record = result.record
        if result.created {
            emit("queued \(LogText.escaped(record.orderNumber)) as job \(record.id) (state \(record.state.rawValue))")
        } else {
            let outcome = record.job.outcome.map { ", outcome \($0.rawValue)" } ?? ""
            emit("already queued: \(LogText.escaped(record.orderNumber)) is job \(record.id) (state \(record.state.rawValue)\(outcome))")
        }
    }
}
