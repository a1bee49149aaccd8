import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The host's wall clock, for the stores and the commands (a PostgreSQL daemon reads the server's
/// clock instead: `ServerClock`).
public enum QueueClock {
    /// The wall clock as unix seconds.
    public static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9 + debugClockSkew
    }

    /// A host clock that is wrong, or stepped while the daemon runs, for tests only: in a debug
    /// build `CANCELQ_DEBUG_CLOCK_SKEW_FILE=PATH` moves this process's wall clock by the seconds
    /// written in PATH, read at each call. Release builds have no such hook.
    static var debugClockSkew: Double {
        #if DEBUG
            if let path = debugClockSkewFile, let file = fopen(path, "r") {
                defer { fclose(file) }
                var buffer = [CChar](repeating: 0, count: 64)
                if fgets(&buffer, Int32(buffer.count), file) != nil,
                    let text = String(cString: buffer).split(whereSeparator: \.isWhitespace).first, let skew = Double(text), skew.isFinite
                {
                    return skew
                }
            }
        #endif
        return 0
    }

    #if DEBUG
        private static let debugClockSkewFile = getenv("CANCELQ_DEBUG_CLOCK_SKEW_FILE").map { String(cString: $0) }
    #endif
}
