import Foundation
import Logging
import Synchronization

/// Log lines as live progress: seconds since the start, then the message. For `cancelq demo`.
public struct ProgressLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let start: Date
    private let paint: Paint
    private let sink: @Sendable (String) -> Void

    public init(start: Date, colour: Bool, sink: @escaping @Sendable (String) -> Void) {
        self.start = start
        paint = Paint(enabled: colour)
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let elapsed = Date().timeIntervalSince(start)
        let stamp = paint.dim(String(format: "%6.1fs", elapsed))
        let text: String
        switch event.level {
        case .warning: text = paint.yellow(event.message.description)
        case .error, .critical: text = paint.red(event.message.description)
        default: text = event.message.description
        }
        sink("  \(stamp)  \(text)")
    }
}
