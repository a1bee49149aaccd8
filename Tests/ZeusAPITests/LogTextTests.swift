import Testing
import ZeusAPI

@Suite("Text from outside in a log line")
struct LogTextTests {
    @Test("a newline, carriage return or control character cannot start a second journal line")
    func controlsEscaped() {
        let forged = "failure\n2026-11-27T00:00:00Z cancelq: order X: attempt 1: success/000\r\u{1B}[2K\u{0}"
        let escaped = LogText.escaped(forged)
        #expect(!escaped.contains("\n") && !escaped.contains("\r") && !escaped.contains("\u{1B}") && !escaped.contains("\u{0}"))
        #expect(escaped.hasPrefix("failure\\n2026"))
        #expect(escaped.hasSuffix("\\r\\u{1B}[2K\\u{0}"))
    }

    @Test("Unicode line separators and bidirectional overrides are escaped; Japanese text stays readable")
    func unicode() {
        #expect(LogText.escaped("a\u{2028}b\u{2029}c\u{85}d") == "a\\u{2028}b\\u{2029}c\\u{85}d")
        #expect(LogText.escaped("evil\u{202E}txt") == "evil\\u{202E}txt")
        #expect(LogText.escaped("取消済み") == "取消済み")
        #expect(LogText.escaped("back\\slash") == "back\\\\slash", "a literal backslash cannot fake an escape")
    }

    @Test("C1 controls (U+009B is a CSI), DEL and every bidirectional embedding, override and isolate are escaped")
    func c1DelAndIsolates() {
        #expect(LogText.escaped("\u{9B}31m\u{80}\u{9F}\u{7F}") == "\\u{9B}31m\\u{80}\\u{9F}\\u{7F}")
        for scalar in [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C] {
            let character = String(Character(Unicode.Scalar(UInt32(scalar))!))
            #expect(LogText.escaped(character) == "\\u{\(String(scalar, radix: 16, uppercase: true))}")
        }
    }

    @Test("long text is cut and marked")
    func cut() {
        #expect(LogText.escaped(String(repeating: "x", count: 500), limit: 10) == "xxxxxxxxxx…")
    }
}
