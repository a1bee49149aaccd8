import CancelCore
import Foundation
import SQLite
import Synchronization
import Testing
import TestSupport

@testable import CancelDaemon

extension InProcessLoopTests {
    @Test("a backlog found at start sends its first request after one batch is discovered, not after the whole backlog")
    func backlogStartsSendingAtOnce() async throws {
        let backlog = 5_000
        try await withRig(orders: [], backlog: backlog, policy: try RetryPolicy(jitter: 0), exitWhenIdle: false) { rig in
            let path = rig.store.path
            let pendingAtFirstSend = Mutex<Int?>(nil)
            rig.transport.onSend.withLock {
                $0 = { _ in
                    guard pendingAtFirstSend.withLock({ $0 == nil }) else { return }
                    // Its own connection: the daemon's is never used from another thread.
                    let pending = (try? Connection(path: path, options: .reader).queryOne(
                        "SELECT count(*) FROM cancellations WHERE state = 'pending'") { $0.int(0) }) ?? nil
                    pendingAtFirstSend.withLock { if $0 == nil { $0 = pending ?? -1 } }
                }
            }
            #expect(await eventually(timeout: 20) { pendingAtFirstSend.withLock { $0 } != nil })
            rig.daemon.inbox.requestStop()
            let pending = try #require(pendingAtFirstSend.withLock { $0 })
            // Discovered a batch (256) per turn with claims in between: most of it still waits.
            #expect(pending > backlog / 2, "\(pending) of \(backlog) still pending when the first request left")
        }
        // Every job is found in the end: the loop goes on discovering while requests are in flight.
        try await withRig(orders: [], backlog: 600, policy: try RetryPolicy(jitter: 0)) { rig in
            #expect(await eventually(timeout: 30) { (try? rig.reader.queryOne("SELECT count(*) FROM cancellations WHERE state = 'succeeded'") { $0.int(0) }) == 600 })
            #expect(rig.transport.sent.count == 600, "one request per order")
        }
    }
}
