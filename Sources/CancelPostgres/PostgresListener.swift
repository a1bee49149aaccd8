import CancelQueue
import Foundation
import Logging
import PostgresNIO

/// `LISTEN cancelq_changes` on a connection of its own: an application's insert or another
/// daemon's change of the gate wakes the loop at once. When the connection drops it reconnects
/// with a growing pause (0.5 s doubling to 5 s) and wakes the loop once, since notifications sent
/// meanwhile are lost; the loop's poll covers the gap.
final class PostgresListener: ChangeNotifications, @unchecked Sendable {
    static let channel = "cancelq_changes"
    private var task: Task<Void, Never>?

    static func start(location: PostgresLocation, logger: Logger, onChange: @escaping @Sendable () -> Void) -> PostgresListener {
        let listener = PostgresListener()
        listener.task = Task {
            let session = PostgresSession(location: location, logger: logger)
            var pause = 0.0
            var wasConnected = false
            while !Task.isCancelled {
                do {
                    let connection = try await session.connected()
                    try await connection.listen(on: channel) { notifications in
                        if wasConnected {
                            logger.notice("change notifications from \(location) are back")
                        }
                        wasConnected = true
                        pause = 0
                        onChange()
                        for try await _ in notifications { onChange() }
                    }
                } catch {
                    if Task.isCancelled { break }
                    if wasConnected {
                        logger.warning("change notifications from \(location) stopped (\(session.storeError(error))); reconnecting, polling meanwhile")
                    }
                    session.drop()
                    pause = min(max(pause * 2, 0.5), 5)
                    try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))
                }
            }
            await session.close()
        }
        return listener
    }

    /// The daemon's own writes do not notify on PostgreSQL: nothing to switch off while busy.
    func setWatching(_ on: Bool) {}

    func stop() {
        task?.cancel()
        task = nil
    }
}
