import Foundation

/// The `cancelq` binary that `swift build` put beside this test bundle.
public func cancelqExecutable() -> String {
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        .deletingLastPathComponent()
    // On Linux the test runner is `.build/<config>/<package>PackageTests.xctest`, beside the products.
    for directory in [bundleDirectory, bundleDirectory.deletingLastPathComponent()] {
        let candidate = directory.appendingPathComponent("cancelq").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    let selfExe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    return selfExe.appendingPathComponent("cancelq").path
}

/// What a finished process printed and how it ended.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var output: String { stdout + stderr }
}

/// Runs `cancelq` with `arguments` to completion (killed after `timeout` seconds). Async, and it
/// sleeps rather than blocks: a blocked thread of the cooperative pool (two on two cores) starves
/// every other test running meanwhile.
public func runCancelq(
    _ arguments: [String], environment: [String: String] = [:], directory: String? = nil, timeout: Double = 20
) async throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: cancelqExecutable())
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CANCELQ_") && $0.key != "NOTIFY_SOCKET" }
    env.merge(environment) { $1 }
    process.environment = env
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Read both pipes concurrently with the wait so a chatty child cannot fill a pipe and block.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async {
        outData = out.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { try? await Task.sleep(nanoseconds: 10_000_000) }
    if process.isRunning {
        process.terminate()
        kill(process.processIdentifier, SIGKILL)
    }
    process.waitUntilExit()
    await withCheckedContinuation { continuation in group.notify(queue: .global()) { continuation.resume() } }
    return ProcessResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs any program to completion, standard output and error together (small outputs only: it
/// reads after the exit). For shells, interpreters and `setpriv` in end-to-end tests.
public func runProgram(_ executable: String, _ arguments: [String], directory: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
