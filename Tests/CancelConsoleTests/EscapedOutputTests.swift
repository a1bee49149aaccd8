import CancelConsole
import CancelCore
import CancelQueue
import CancelStore
import Foundation
import Testing
import TestSupport

/// Issue 18, point 10: stored text (gateway answers, reasons, operator names) never reaches the
/// terminal raw, in the table, the timeline, --check or --json.
@Suite("Stored text is escaped on every output")
struct EscapedOutputTests {
    let hostile = hostileText(forging: "  operator   2026-01-01 00:00:00 +00:00  approve by root: released 1000")

    @Test("the table and --check: gateway text, a halt's reason and health reasons are escaped; no line is forged")
    func tableAndCheck() throws {
        let failure = StatusReport.Failure(
            orderNumber: "F-1", outcome: .gaveUp, status: hostile, code: hostile, meaning: nil, error: hostile, attempts: 1, at: 0)
        var report = StatusTextTests.report(mode: .halted, failures: [failure], reasons: [hostile])
        report.sending.reason = hostile
        report.database = hostile
        for text in [StatusText(colour: false).render(report), report.checkLine] {
            #expect(rawControls(in: text).isEmpty, "\(rawControls(in: text))")
            #expect(!text.split(separator: "\n").contains { $0.hasPrefix("  operator   2026-01-01") }, "\(text)")
        }
    }

    @Test("--json escapes C1, DEL, bidi and separators too, and decodes back to the same text")
    func json() throws {
        let encoded = try JSONText.encode(["reason": hostile])
        #expect(rawControls(in: encoded).isEmpty, "\(rawControls(in: encoded))")
        let decoded = try JSONDecoder().decode([String: String].self, from: Data(encoded.utf8))
        #expect(decoded["reason"] == hostile)
    }
}
