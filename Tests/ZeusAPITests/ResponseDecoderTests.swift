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
            "<response service=\"secure_link\" action=\"payment_return\"><result>\n\t<status> success </status>\n\t<code>\n000\n</code></result></response>",
            "<?xml version='1.0'?><response service=\"secure_link\" action=\"payment_return\"><result><code>000</code><status>success</status></result></response>",
            "<?xml version='1.0' encoding='UTF-8' standalone='yes'?><response service=\"secure_link\" action=\"payment_return\"><result><status>success</status><code>000</code></result></response>",
            "<response service=\"secure_link\" action=\"payment_return\"><result><status>succ&#101;ss</status><code>&#x30;00</code></result></response>",
        ])
    func variations(_ body: String) throws {
        #expect(try decode(body) == PaymentReturnResponse(status: "success", code: "000"))
    }

    static func answer(_ result: String, root: String = "<response service=\"secure_link\" action=\"payment_return\">") -> String {
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\(root)\n<result>\(result)</result>\n</response>\n"
    }

    @Test("exactly one status and one code, under a response for secure_link / payment_return")
    func shape() {
        typealias E = PaymentReturnResponse.DecodeError
        #expect(throws: E.missingElement("<result><code>")) { try decode(Self.answer("<status>success</status>")) }
        #expect(throws: E.missingElement("<result><status>")) { try decode(Self.answer("<code>000</code>")) }
        #expect(throws: E.duplicateElement("/response/result/code")) {
            try decode(Self.answer("<status>success</status><code>000</code><code>000</code>"))
        }
        #expect(throws: E.wrongService(attribute: "service", value: nil)) {
            try decode(Self.answer("<status>success</status><code>000</code>", root: "<response action=\"payment_return\">"))
        }
        #expect(throws: E.wrongService(attribute: "action", value: "payment")) {
            try decode(Self.answer("<status>success</status><code>000</code>", root: "<response service=\"secure_link\" action=\"payment\">"))
        }
        #expect(throws: E.wrongService(attribute: "service", value: "secure_link2")) {
            try decode(Self.answer("<status>success</status><code>000</code>", root: "<response service=\"secure_link2\" action=\"payment_return\">"))
        }
        #expect(throws: E.unexpectedElement("/response/result/status/b")) {
            try decode(Self.answer("<status>succ<b/>ess</status><code>000</code>"))
        }
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
        #expect(throws: PaymentReturnResponse.DecodeError.missingElement("<result><status>")) {
            // status and code outside <result> are not the answer
            try decode("<response service=\"secure_link\" action=\"payment_return\"><status>success</status><code>000</code></response>")
        }
        #expect(throws: PaymentReturnResponse.DecodeError.duplicateElement("/response/result/status")) {
            try decode(Self.answer("<status>failure</status><status>success</status><code>000</code>"))
        }
        #expect(throws: PaymentReturnResponse.DecodeError.refused(.markupDeclaration)) {
            try decode("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaa\">]><response><result><status>&a;</status></result></response>")
        }
        #expect(throws: PaymentReturnResponse.DecodeError.self) { try decode("<response><result><status>success</status>") }
        #expect(throws: PaymentReturnResponse.DecodeError.self) { try decode("success 000") }
        #expect(throws: PaymentReturnResponse.DecodeError.fieldTooLong("/response/result/code")) {
            try decode(Self.answer("<status>success</status><code>\(String(repeating: "9", count: 100))</code>"))
        }
    }

    @Test(
        "inputs that crashed or leaked FoundationXML under libFuzzer are refused before the parser",
        arguments: ["<?x?>", "<response><?pi?><result><status>success</status></result></response>",
                    "<?xml version=\"1.0\"?><?xml-stylesheet href=\"a\"?><response/>", "<?xml?><response/>",
                    "<?xml version=\"1.0\" encoding\u{FEFF}=",
                    // A processing instruction hidden inside what looks like the declaration (CI's fuzzer, segfault).
                    "<?xml ves><cod<?xersof-8Y?>\n<r_r-e", "<?xml version=\"1.0\"><response><?x?>?>",
                    // `--` inside a comment: libxml2 ends it early and parsed the PI skipped here (segfault).
                    "<response><!--c  -><<resu<?xml 6ersion=\"x\"?><re!-- c --><result/></response>",
                    "<response><!-- a -- b --><result><status>success</status><code>000</code></result></response>",
                    "<response><!-- a ---><result><status>success</status><code>000</code></result></response>",
                    // A control character inside a comment: libxml2 recovers by ending it (segfault, CI's fuzzer).
                    "<response><!--c  -><<resucpde\u{1E}8<ion=\"o<?xmo 6ersi-><relng=#utf-8\"?>059 --><result/></response>",
                    "<response><result><status>success</status><code>000\u{1}</code></result></response>",
                    "<response><result><status>success\u{FFFE}</status><code>000</code></result></response>"])
    func fuzzerFindings(_ body: String) {
        #expect(throws: PaymentReturnResponse.DecodeError.self) { try decode(body) }
    }

    @Test("only XML white space is trimmed: a zero-width or no-break space around 000 is not 000")
    func onlyXMLSpaceTrimmed() throws {
        #expect(try decode(Self.answer("<status>success</status><code>\u{200B}000</code>")).code == "\u{200B}000")
        #expect(try decode(Self.answer("<status>success</status><code>\u{A0}000\u{A0}</code>")).code == "\u{A0}000\u{A0}")
        #expect(try decode(Self.answer("<status>\r\n\t success \n</status><code> 000 </code>")) == PaymentReturnResponse(status: "success", code: "000"))
    }

    @Test("a data-less processing instruction is refused as such, the XML declaration still passes")
    func processingInstructions() throws {
        #expect(throws: PaymentReturnResponse.DecodeError.refused(.processingInstruction)) { try decode("<response><?pi?></response>") }
        #expect(try decode(Self.success).status == "success")
    }

    /// UTF-16 and UTF-32 in both byte orders, with and without a byte-order mark.
    static func encoded(_ text: String, as encoding: String) -> [UInt8] {
        var bytes: [UInt8] = []
        let big = encoding.hasSuffix("BE")
        for scalar in text.unicodeScalars {
            let units: [UInt32] = encoding.hasPrefix("UTF-32") ? [scalar.value] : Array(String(scalar).utf16).map(UInt32.init)
            let width = encoding.hasPrefix("UTF-32") ? 4 : 2
            for unit in units {
                let unitBytes = (0..<width).map { UInt8((unit >> (8 * $0)) & 0xFF) }
                bytes += big ? unitBytes.reversed() : unitBytes
            }
        }
        return bytes
    }

    @Test(
        "UTF-16 and UTF-32 answers are refused before any parser sees them, with or without BOM or encoding declaration",
        arguments: ["UTF-16LE", "UTF-16BE", "UTF-32LE", "UTF-32BE"])
    func otherEncodings(_ encoding: String) {
        let declared = Self.success.replacingOccurrences(of: "utf-8", with: encoding.prefix(6).lowercased())
        // `<?x?>` after a UTF-16 declaration is what segfaulted FoundationXML.
        for text in [Self.success, "\u{FEFF}" + Self.success, declared, "\u{FEFF}" + declared, "<?xml version=\"1.0\" encoding=\"UTF-16\"?><?x?>"] {
            #expect(throws: PaymentReturnResponse.DecodeError.self) { try PaymentReturnResponse.decode(Self.encoded(text, as: encoding)) }
        }
    }

    @Test("a foreign encoding declaration, a NUL byte, an entity or a CDATA section in UTF-8 is refused")
    func utf8Allowlist() throws {
        typealias E = PaymentReturnResponse.DecodeError
        #expect(throws: E.refused(.declaredEncoding("UTF-16"))) {
            try decode(Self.success.replacingOccurrences(of: "utf-8", with: "UTF-16"))
        }
        #expect(throws: E.refused(.declaredEncoding("Shift_JIS"))) {
            try decode(Self.success.replacingOccurrences(of: "utf-8", with: "Shift_JIS"))
        }
        #expect(throws: E.refused(.nulByte)) { try decode(Self.success.replacingOccurrences(of: "000", with: "0\u{0}0")) }
        #expect(throws: E.refused(.entityReference)) { try decode(Self.answer("<status>&ok;</status><code>000</code>")) }
        #expect(throws: E.refused(.entityReference)) { try decode(Self.answer("<status>ok</status><code>&#0;</code>")) }
        #expect(throws: E.refused(.entityReference)) { try decode(Self.answer("<status>ok</status><code>&#xD800;</code>")) }
        #expect(throws: E.refused(.markupDeclaration)) { try decode(Self.answer("<status><![CDATA[success]]></status><code>000</code>")) }
        #expect(throws: E.refused(.markupDeclaration)) { try decode(Self.answer("<!-- unterminated comment <status>success</status>")) }
        // Inside a comment nothing is read: a `<?` or `&x;` there is harmless.
        #expect(try decode(Self.answer("<!-- <?pi?> &nbsp; --><status>success</status><code>000</code>")).code == "000")
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
