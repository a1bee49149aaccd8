import Foundation
import Testing
import TestSupport

/// Issue 6: applications inserting while the daemon drains at full speed never see "locked".
@Suite("Writer contention", .timeLimit(.minutes(3)))
struct ContentionTests {
    @Test("4 writer processes × 1,500 single-insert transactions during a drain: zero locked errors, nothing left")
    func writersNeverSeeLocked() async throws {
        let result = try await runCancelq(
            ["bench", "contention", "--jobs", "3000", "--writers", "4", "--inserts", "1500"], timeout: 170)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("all writers: 6000 inserts, 0 \"database is locked\" errors"), "\(result.stdout)")
        #expect(result.stdout.contains("daemon: 0 jobs left unfinished"), "\(result.stdout)")
        // Numbers for the log; the assertion is on errors, never on timing.
        print(result.stdout)
    }
}
