import ArgumentParser

/// The `cancelq` executable: subcommands only; the work happens in the library modules.
@main
struct CancelQ: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancelq",
        abstract: "Cancels ZEUS card payments reliably, from a SQLite or PostgreSQL queue, with a full audit trail.",
        discussion: """
            Applications insert order numbers into the `cancellations` table; `cancelq run` waits the
            delay the gateway asks for, sends `payment_return`, retries what can be retried and records
            every attempt. Start with `cancelq demo` to see it work against a local simulator.
            """,
        subcommands: [
            MigrateCommand.self, RunCommand.self, EnqueueCommand.self, StatusCommand.self,
            RequeueCommand.self, ResumeCommand.self, WithdrawCommand.self, ApproveCommand.self, GatewaySimCommand.self,
            DemoCommand.self, CopyToPostgresCommand.self, BenchCommand.self,
        ]
    )
}
