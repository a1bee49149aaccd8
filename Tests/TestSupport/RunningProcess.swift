import Foundation

/// A long-running `cancelq` child (daemon, simulator) whose output goes to a file, so it can never
/// block on a full pipe. Killed when released, so no test leaves a process behind.
public final class RunningProcess: @unchecked Sendable {
    public let process: Process
    public let outputPath: String

    public init(_ arguments: [String], environment: [String: String] = [:], directory: String) throws {
        outputPath = directory + "/process-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process = Process()
        process.executableURL = URL(fileURLWithPath: cancelqExecutable())
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CANCELQ_") && $0.key != "NOTIFY_SOCKET" }
        env.merge(environment) { $1 }
        process.environment = env
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try output.close()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    public var output: String {
        (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// The exit status, or nil if still running after `timeout` seconds.
    public func waitForExit(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { try? await Task.sleep(nanoseconds: 20_000_000) }
        if process.isRunning { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits until the output contains `text`; false after `timeout` seconds.
    public func waitForOutput(_ text: String, timeout: Double) async -> Bool {
        await eventually(timeout: timeout) { self.output.contains(text) }
    }
}

/// Polls `condition` every 20 ms until it holds; false after `timeout` seconds.
@discardableResult
public func eventually(timeout: Double, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return try condition()
}
