import CancelCore
import CancelMetrics
import CancelQueue
import Logging
import ServiceLifecycle
import ZeusAPI

/// `cancelq run` as a service: wires the run loop to its surroundings (the change watcher, the
/// graceful shutdown, the transport) and runs it.
///
/// `CancelCore` decides; the loop performs (`RunLoop.perform`): it writes the job's `sent` state
/// and its attempt row in one committed transaction BEFORE the request leaves, and writes the answer
/// and the new state together after. Many jobs share a transaction (group commit), none waits on the
/// network inside one.
public final class CancellationDaemon: Service, @unchecked Sendable {
    // @unchecked: `store` (a SQLite connection, say) is used only by `run()`'s loop, one task at a time.
    let configuration: DaemonConfiguration
    let store: any QueueStore
    let transport: any Transport
    let logger: Logger
    let notifier: SystemdNotifier?
    let clock: @Sendable () -> Double
    let inbox = Inbox<Completion>()
    let log: TransitionLog
    let storageGuard: (any StorageGuard)?
    /// The counters of `--metrics-listen`; nil when it is off, and then nothing is counted.
    let metrics: RunLoopMetrics?

    /// Without inotify: how often to look for rows committed by other processes. Jobs with a known
    /// due time are woken for exactly; this bounds only how late an insert already due is noticed.
    static let changeCheckInterval = 0.2

    struct Completion: Sendable {
        let jobID: Int64
        let outcome: TransportOutcome
        let at: Double
    }

    /// `storageGuard`: the driver's check, after each commit, that the queue's storage is the one
    /// the daemon opened (SQLite's files guard); nil where there is nothing to check.
    public init(
        configuration: DaemonConfiguration, store: any QueueStore, transport: any Transport, logger: Logger,
        storageGuard: (any StorageGuard)? = nil, notifier: SystemdNotifier? = SystemdNotifier(),
        clock: @escaping @Sendable () -> Double = QueueClock.now, metrics: RunLoopMetrics? = nil
    ) {
        self.storageGuard = storageGuard
        self.metrics = metrics
        self.configuration = configuration
        self.store = store
        self.transport = transport
        self.logger = logger
        self.notifier = notifier
        self.clock = clock
        log = TransitionLog(logger: logger, clock: clock, policy: configuration.policy)
    }

    public func run() async throws {
        defer { notifier?.notify("STOPPING=1") }
        let watcher = store.notifyChanges { [inbox] in inbox.nudge() }
        defer { watcher?.stop() }
        if watcher == nil {
            logger.notice("no change notification for \(store.location): checking for new rows every \(Self.changeCheckInterval) s")
        }
        let changeCheckInterval = watcher == nil ? Self.changeCheckInterval : configuration.pollInterval
        do {
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    var loop = try await RunLoop(
                        daemon: self, changeCheckInterval: changeCheckInterval, notifications: watcher)
                    do {
                        try await loop.run(group: &group)
                    } catch {
                        // SQLite may notice a replaced -wal first (an I/O error): say what happened.
                        if let problem = loop.filesGuard?.check() { throw DaemonStop.databaseFilesChanged(problem) }
                        throw error
                    }
                }
            } onGracefulShutdown: { [inbox] in
                inbox.requestStop()
            }
        } catch {
            await transport.shutdown()
            throw error
        }
        await transport.shutdown()
    }
}

/// Why the daemon stops on its own, with a non-zero exit.
enum DaemonStop: Error, CustomStringConvertible {
    case databaseFilesChanged(String)

    var description: String {
        switch self {
        case .databaseFilesChanged(let what):
            "\(what) while the daemon was running; stopping before any further request leaves. "
                + "Commits since then may be lost: restore the database files, then restart (jobs left in sent are resent safely)"
        }
    }
}
