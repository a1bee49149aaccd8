import Testing
import TestSupport
import ZeusAPI

@Suite("Response decoder")
struct ResponseDecoderTests {
    static let success = """
        <?xml version="1.0" encoding="utf-8"?>
        <response service="secure_link" action="payment_return">
        <result>
        <status>success</status>
        <code>000</code>
        </result>
        </response>
        """
    static let failure = """
        <?xml version="1.0" encoding="utf-8"?>
        <response service="secure_link" action="payment_return">
        <result>
        <status>invalid</status>
        <code>99999999</code>
        </result>
        </response>
        """

    func decode(_ text: String) throws -> PaymentReturnResponse {
        try PaymentReturnResponse.decode(Array(text.utf8))
    }

    @Test("the spec's two examples decode")
    func specExamples() throws {
        #expect(try decode(Self.success) == PaymentReturnResponse(status: "success", code: "000"))
        #expect(try decode(Self.failure) == PaymentReturnResponse(status: "invalid", code: "99999999"))
    }

    @Test(
        "whitespace, CRLF, a BOM, comments, attribute order and indentation do not matter",
        arguments: [
            success.replacingOccurrences(of: "\n", with: "\r\n"),
            "\u{FEFF}" + success,
            "\n\n  " + success + "\n\n",
            success.replacingOccurrences(of: "<result>", with: "<!-- gateway 7 --><result>"),
            success.replacingOccurrences(of: "service=\"secure_link\" action=\"payment_return\"", with: "action=\"payment_return\" service=\"secure_link\""),
            "<response><result>\n\t<status> success </status>\n\t<code>\n000\n</code></result></response>",
            "<?xml version='1.0'?><response><result><code>000</code><status>success</status></result></response>",
        ])
    func variations(_ body: String) throws {
        #expect(try decode(body) == PaymentReturnResponse(status: "success", code: "000"))
    }

    @Test("a missing code reads as empty; the status decides")
    func missingCode() throws {
        #expect(try decode("<response><result><status>success</status></result></response>").code == "")
    }

    @Test("refusals: empty, oversized, not XML, wrong root, no status, duplicate, DTD")
    func refusals() {
        #expect(throws: PaymentReturnResponse.DecodeError.empty) { try decode("") }
        #expect(throws: PaymentReturnResponse.DecodeError.empty) { try decode("  \r\n ") }
        #expect(throws: PaymentReturnResponse.DecodeError.tooLarge(bytes: 65_537)) {
            try PaymentReturnResponse.decode([UInt8](repeating: 0x20, count: 65_537))
        }
        #expect(throws: PaymentReturnResponse.DecodeError.self) { try decode("<html><body>502 Bad Gateway</body></html>") }
        #expect(throws: PaymentReturnResponse.DecodeError.wrongRoot("request")) {
            try decode("<request><result><status>success</status></result></request>")
        }
        #expect(throws: PaymentReturnResponse.DecodeError.missingStatus) { try decode("<response><result><code>000</code></result></response>") }
        #expect(throws: PaymentReturnResponse.DecodeError.missingStatus) { try decode("<response><status>success</status></response>") }
        #expect(throws: PaymentReturnResponse.DecodeError.duplicateElement("/response/result/status")) {
            try decode("<response><result><status>failure</status><status>success</status></result></response>")
        }
        #expect(throws: PaymentReturnResponse.DecodeError.doctypeNotAllowed) {
            try decode("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]><response><result><status>&a;</status></result></response>")
        }
        #expect(throws: PaymentReturnResponse.DecodeError.self) { try decode("<response><result><status>success</status>") }
        #expect(throws: PaymentReturnResponse.DecodeError.self) { try decode("success 000") }
        #expect(throws: PaymentReturnResponse.DecodeError.fieldTooLong("/response/result/code")) {
            try decode("<response><result><status>success</status><code>\(String(repeating: "9", count: 100))</code></result></response>")
        }
    }

    @Test(
        "inputs that crashed or leaked FoundationXML under libFuzzer are refused before the parser",
        arguments: ["<?x?>", "<response><?pi?><result><status>success</status></result></response>",
                    "<?xml version=\"1.0\"?><?xml-stylesheet href=\"a\"?><response/>", "<?xml?><response/>",
                    "<?xml version=\"1.0\" encoding\u{FEFF}="])
    func fuzzerFindings(_ body: String) {
        #expect(throws: PaymentReturnResponse.DecodeError.self) { try decode(body) }
    }

    @Test("a data-less processing instruction is refused as such, the XML declaration still passes")
    func processingInstructions() throws {
        #expect(throws: PaymentReturnResponse.DecodeError.processingInstructionNotAllowed) { try decode("<response><?pi?></response>") }
        #expect(try decode(Self.success).status == "success")
    }

    @Test("100,000 mutated and random bodies never trap the decoder")
    func randomizedBodies() {
        var random = SeededGenerator(seed: 20_261_126)
        let seeds = [Array(Self.success.utf8), Array(Self.failure.utf8)]
        let alphabet = Array("<>/?!-=\"' \r\n\tabcdefghijklmnopqrstuvwxyz0123456789&;#[]\u{FEFF}".utf8)
        var decoded = 0
        for round in 0..<100_000 {
            var body: [UInt8]
            if round % 10 == 0 {
                body = (0..<Int.random(in: 0..<300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                body = seeds[round % 2]
                for _ in 0..<Int.random(in: 1...6, using: &random) {
                    let position = Int.random(in: 0..<max(1, body.count), using: &random)
                    switch Int.random(in: 0..<4, using: &random) {
                    case 0 where !body.isEmpty: body[position] = alphabet.randomElement(using: &random)!
                    case 1 where !body.isEmpty: body.remove(at: position)
                    case 2: body.insert(alphabet.randomElement(using: &random)!, at: min(position, body.count))
                    default:
                        let cut = Int.random(in: 0...body.count, using: &random)
                        body = Array(body[..<cut])
                    }
                }
            }
            if (try? PaymentReturnResponse.decode(body)) != nil { decoded += 1 }
        }
        // Single-character mutations leave many answers well-formed: the decoder must accept those.
        #expect(decoded > 1_000)
    }
}
