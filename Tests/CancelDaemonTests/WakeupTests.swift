import CancelQueue
import CancelStore
import Foundation
import SQLite
import Synchronization
import Testing
import TestSupport

@testable import CancelDaemon

@Suite("Inbox, change watcher and notifier")
struct WakeupTests {
    @Test("wait returns on an item, on a nudge, once on a stop, and after its timeout otherwise")
    func inbox() async {
        let inbox = Inbox<Int>()
        inbox.push(1)
        await inbox.wait(seconds: 10)  // an item is already there: returns at once
        #expect(inbox.drain() == [1])
        Task { try? await Task.sleep(nanoseconds: 50_000_000); inbox.push(2) }
        await inbox.wait(seconds: 10)
        #expect(inbox.drain() == [2])
        Task { try? await Task.sleep(nanoseconds: 50_000_000); inbox.nudge() }
        await inbox.wait(seconds: 10)
        inbox.requestStop()
        await inbox.wait(seconds: 10)  // the stop wakes once...
        #expect(inbox.isStopping)
        let start = ContinuousClock.now
        await inbox.wait(seconds: 0.2)  // ...then waiting sleeps again (no spin while draining)
        #expect(ContinuousClock.now - start >= .milliseconds(150))
    }

    @Test("another connection's commit wakes the watcher; unrelated files do not")
    func changeWatcher() async throws {
        try await withTemporaryDirectory { dir in
            let store = try CancelStore.open(path: dir + "/q.db", create: true)
            let changes = Mutex(0)
            let watcher = try #require(store.notifyChanges { changes.withLock { $0 += 1 } })
            defer { watcher.stop() }
            try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/unrelated.txt"))
            try await Task.sleep(nanoseconds: 100_000_000)
            #expect(changes.withLock { $0 } == 0)
            let other = try Connection(path: dir + "/q.db")
            try other.run("INSERT INTO cancellations(order_number) VALUES ('W-1')")
            #expect(await eventually(timeout: 2) { changes.withLock { $0 } > 0 })
            _ = store
        }
    }

    @Test("the notifier reaches an abstract-namespace socket too, and is absent without NOTIFY_SOCKET")
    func notifierPaths() {
        #expect(SystemdNotifier(environment: [:]) == nil)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "@cancelq-test-\(getpid())", "WATCHDOG_USEC": "2000000"])
        #expect(notifier?.watchdogInterval == 2)
        // Nobody listens on that abstract name: sending fails cleanly instead of crashing.
        #expect(notifier?.notify("READY=1") == false)
        let otherPID = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"])
        #expect(otherPID?.watchdogInterval == nil, "the watchdog belongs to another process")
    }
}
