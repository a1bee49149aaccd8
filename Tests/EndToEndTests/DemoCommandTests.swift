import Foundation
import Testing
import TestSupport

@Suite("cancelq demo")
struct DemoCommandTests {
    @Test("the demo runs self-contained in under 30 s, every order ends where SPEC.md says, exit 0")
    func demo() async throws {
        let start = Date()
        let result = try await runCancelq(["demo"], timeout: 60)
        let elapsed = Date().timeIntervalSince(start)
        #expect(result.status == 0, "\(result.output)")
        #expect(elapsed < 30, "took \(elapsed) s")
        for line in [
            "ok  DEMO-1001  cancelled", "ok  DEMO-1002  cancelled", "ok  DEMO-1003  cancelled",
            "ok  DEMO-1004  already-cancelled", "ok  DEMO-1005  cancelled", "refused \"DEMO 1006\" at the door",
            "ok  DEMO-1007  withdrawn", "SENDING HELD: more than 12 jobs enqueued", "-> withdrawn",
            "operator: cancelq approve --yes -> 15 waiting job(s) released", "the surge hold was released by `cancelq approve`",
            "ok  10 bulk orders cancelled after the approval",
            "(maintenance probe)", "sending resumed", "Health    OK",
            "timings are shortened for the demo: delay 5 s (default 10 s)", "other times are local, with their UTC offset",
        ] {
            #expect(result.stdout.contains(line), "missing: \(line)")
        }
        #expect(!result.stdout.contains("\u{1B}["), "no colour when not a terminal")
        #expect(!result.stdout.contains(" until "), "a transition shows 'next attempt now' or 'in N s', never an until: \(result.stdout)")
        // The status table's times carry their offset, like the journal's.
        #expect(result.stdout.range(of: #"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d"#, options: .regularExpression) != nil)
        let directory = result.stdout.split(separator: "\n").first { $0.contains("queue: ") }.map {
            String($0.split(separator: " ").last ?? "")
        }
        #expect(directory.map { !FileManager.default.fileExists(atPath: $0) } == true, "the demo left its database behind")
    }
}
