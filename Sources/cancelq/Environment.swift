import ArgumentParser

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure the user can act on: printed as one line, exit status 1 (or `exitCode`).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Reads an environment variable; empty counts as unset.
func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let string = String(cString: value)
    return string.isEmpty ? nil : string
}

/// An option given on the command line, else its environment variable, else nil.
func option(_ value: String?, env name: String) -> String? { value ?? environment(name) }

/// A number from the command line or the environment; refuses garbage with the variable's name.
func number(_ value: Double?, env name: String, default fallback: Double, flag: String) throws -> Double {
    if let value { return value }
    guard let text = environment(name) else { return fallback }
    guard let parsed = Double(text), parsed.isFinite else {
        throw CommandFailure("\(name)=\(text) is not a number of seconds (used for \(flag))")
    }
    return parsed
}

func integer(_ value: Int?, env name: String, default fallback: Int, flag: String) throws -> Int {
    if let value { return value }
    guard let text = environment(name) else { return fallback }
    guard let parsed = Int(text) else { throw CommandFailure("\(name)=\(text) is not a whole number (used for \(flag))") }
    return parsed
}

/// `--db PATH`, or `CANCELQ_DB`.
struct DatabaseOption: ParsableArguments {
    @Option(name: .customLong("db"), help: ArgumentHelp("The queue's SQLite database file (env: CANCELQ_DB).", valueName: "path"))
    var path: String?

    func resolved() throws -> String {
        guard let path = option(path, env: "CANCELQ_DB") else {
            throw CommandFailure("no database given: pass --db PATH or set CANCELQ_DB")
        }
        return path
    }
}

/// Writes a line to standard error.
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
