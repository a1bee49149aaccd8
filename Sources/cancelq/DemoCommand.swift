import ArgumentParser
import CancelDemo

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "See cancelq work: the daemon against a local gateway simulator, in a temporary directory (about 10 s).")

    @Flag(help: "Keep the demo database afterwards, to explore with `cancelq status`.")
    var keep = false

    func run() async throws {
        let succeeded = try await DemoScenario(keep: keep, colour: standardOutputIsTerminal, out: { emit($0) }).run()
        if !succeeded { throw ExitCode(1) }
    }
}
