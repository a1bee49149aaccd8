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

/// Reads an environment variable. Set but empty is refused: `CANCELQ_ENDPOINT=` in an environment
/// file would otherwise mean the production endpoint, and `CANCELQ_DELAY=` the default delay.
func environment(_ name: String) throws -> String? {
    guard let value = getenv(name) else { return nil }
    let string = String(cString: value)
    guard !string.isEmpty else {
        throw CommandFailure("\(name) is set but empty: give it a value or unset it")
    }
    return string
}

/// An option given on the command line, else its environment variable, else nil.
func option(_ value: String?, env name: String) throws -> String? {
    if let value { return value }
    return try environment(name)
}

/// The range every duration and count option must fall in: "inf" and "nan" parse as numbers, and
/// an absurd value (a timeout of 300 years) would start a daemon that never sends, or overflow.
enum Limits {
    static let day: ClosedRange<Double> = 0.001...86_400
    static let delay: ClosedRange<Double> = 5...31_536_000
    static let pollInterval: ClosedRange<Double> = 0.001...3600
    static let attempts: ClosedRange<Int> = 1...1000
    static let concurrency: ClosedRange<Int> = 1...1024
    /// 0 turns the surge hold off.
    static let holdAbove: ClosedRange<Int> = 0...100_000_000
    /// Up to 30 days.
    static let holdWindow: ClosedRange<Double> = 1...2_592_000
    /// `status --check` thresholds: 0 up to ten years.
    static let threshold: ClosedRange<Double> = 0...315_360_000
}

/// A number of seconds from the command line or the environment, within `range`; anything else is
/// refused in one line naming the option (and the variable when it came from there).
func number(
    _ value: Double?, env name: String, default fallback: Double, flag: String, within range: ClosedRange<Double>
) throws -> Double {
    var source = flag
    var parsed = fallback
    if let value {
        parsed = value
    } else if let text = try environment(name) {
        guard let number = Double(text) else { throw CommandFailure("\(name)=\(text) is not a number of seconds (used for \(flag))") }
        parsed = number
        source = "\(name) (\(flag))"
    }
    try requireWithin(parsed, range, source: source)
    return parsed
}

func requireWithin(_ value: Double, _ range: ClosedRange<Double>, source: String) throws {
    guard value.isFinite, range.contains(value) else {
        throw CommandFailure("\(source) must be a number of seconds from \(format(range.lowerBound)) to \(format(range.upperBound)) (got \(value))")
    }
}

func integer(_ value: Int?, env name: String, default fallback: Int, flag: String, within range: ClosedRange<Int>) throws -> Int {
    var source = flag
    var parsed = fallback
    if let value {
        parsed = value
    } else if let text = try environment(name) {
        guard let number = Int(text) else { throw CommandFailure("\(name)=\(text) is not a whole number (used for \(flag))") }
        parsed = number
        source = "\(name) (\(flag))"
    }
    guard range.contains(parsed) else {
        throw CommandFailure("\(source) must be a whole number from \(range.lowerBound) to \(range.upperBound) (got \(parsed))")
    }
    return parsed
}

private func format(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
}

/// Writes a line to standard error.
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
