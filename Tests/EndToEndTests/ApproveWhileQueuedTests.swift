import Foundation
import SQLite
import Testing
import TestSupport

/// `cancelq approve` on a terminal (a pty from script(1)), its stdin and stdout driven step by step.
final class TerminalSession: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let lock = NSLock()
    private var buffer = Data()

    init(_ command: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", command, "/dev/null"]
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.buffer.append(data) }
        }
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    var output: String { lock.withLock { String(decoding: buffer, as: UTF8.self) } }

    func type(_ line: String) { input.fileHandleForWriting.write(Data((line + "\n").utf8)) }

    /// Waits until `text` has appeared `times` times.
    func waitFor(_ text: String, times: Int = 1, timeout: Double = 10) async -> Bool {
        await eventually(timeout: timeout) { self.output.components(separatedBy: text).count - 1 >= times }
    }
}

@Suite("cancelq approve releases what it showed", .timeLimit(.minutes(1)))
struct ApproveWhileQueuedTests {
    @Test("the prompt shows 4, the application queues 20 while it waits: yes approves nothing, the 24 are shown and asked again")
    func queuedWhileThePromptWaits() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue((1...4).map { "SHOWN-\($0)" })
            let daemon = try h.startDaemon(["--hold-above", "3"])
            #expect(await daemon.waitForOutput("SENDING HELD", timeout: 15), "\(daemon.output)")

            let terminal = try TerminalSession("\(cancelqExecutable()) approve --db \(h.database)")
            #expect(await terminal.waitFor("Type yes to approve"), "\(terminal.output)")
            #expect(terminal.output.contains("Approving releases 4 waiting job(s)"), "\(terminal.output)")
            try h.enqueue((1...20).map { "LATER-\($0)" })
            terminal.type("yes")
            #expect(await terminal.waitFor("Type yes to approve", times: 2), "\(terminal.output)")
            #expect(terminal.output.contains("not approved: the held jobs changed while you were asked (4 shown, 24 waiting now"), "\(terminal.output)")
            #expect(terminal.output.contains("Approving releases 24 waiting job(s)"), "\(terminal.output)")
            terminal.type("no")
            #expect(await eventually(timeout: 10) { !terminal.process.isRunning })
            #expect(terminal.output.contains("not approved: sending stays held"), "\(terminal.output)")
            try await Task.sleep(nanoseconds: 500_000_000)
            #expect(h.state.requests.isEmpty, "\(h.state.requests.count) request(s) left after an approval the operator refused")
            #expect(try h.reader().queryOne("SELECT mode FROM sending_gate") { $0.string(0) } == "held")

            // Asked again with the 24 in view, yes releases exactly those, and says from when jobs count again.
            let informed = try TerminalSession("\(cancelqExecutable()) approve --db \(h.database)")
            #expect(await informed.waitFor("Type yes to approve"), "\(informed.output)")
            informed.type("yes")
            #expect(await informed.waitFor("count toward the next surge"), "\(informed.output)")
            #expect(informed.output.contains("24 waiting job(s) released, exactly those shown"), "\(informed.output)")
            #expect(await eventually(timeout: 30) { h.state.requests.count == 24 })
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 20) == 0)
        }
    }
}
