import ArgumentParser
import ZeusAPI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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

    /// ArgumentParser's own `main`, but every message an error carries (which may quote an argument,
    /// a path or text from the database) is escaped line by line with `LogText`: a control
    /// character in it never reaches the terminal.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error).split(separator: "\n", omittingEmptySubsequences: false)
                .map { LogText.escaped($0, limit: 4000) }.joined(separator: "\n")
            if !message.isEmpty {
                if code == .success { emit(message) } else { printError(message) }
            }
            #if canImport(Glibc)
                Glibc.exit(code.rawValue)
            #else
                Darwin.exit(code.rawValue)
            #endif
        }
    }
}
