#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes a line to standard output at once (unbuffered), so a reading process sees it immediately.
func emit(_ line: String, newline: Bool = true) {
    let bytes = Array((newline ? line + "\n" : line).utf8)
    _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}

/// Whether standard output is a terminal (colour and live progress only then).
var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
