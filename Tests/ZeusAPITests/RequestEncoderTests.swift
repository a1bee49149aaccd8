import Testing
import ZeusAPI

@Suite("Request encoder")
struct RequestEncoderTests {
    @Test("the spec's example is produced byte for byte")
    func specExample() throws {
        let request = try PaymentReturnRequest(
            clientIP: "9999999999", key: "0000000000000000000000000000000000000000",
            orderNumber: "999.999.999.999-999999-9999999999-99999999")
        let expected = """
            <?xml version="1.0" encoding="utf-8"?>
            <request service="secure_link" action="payment_return">
            <authentication>
            <clientip>9999999999</clientip>
            <key>0000000000000000000000000000000000000000</key>
            </authentication>
            <return>
            <order_number>999.999.999.999-999999-9999999999-99999999</order_number>
            </return>
            </request>

            """
        #expect(request.body == Array(expected.utf8))
    }

    @Test("& < > \" ' are escaped in the order number and the key")
    func escaping() throws {
        let request = try PaymentReturnRequest(clientIP: "12345", key: "k&<>\"'", orderNumber: "A&B<C>D\"E'F")
        let body = String(decoding: request.body, as: UTF8.self)
        #expect(body.contains("<order_number>A&amp;B&lt;C&gt;D&quot;E&apos;F</order_number>"))
        #expect(body.contains("<key>k&amp;&lt;&gt;&quot;&apos;</key>"))
        // And it reads back as the original through a real parser.
        #expect(!body.contains("A&B"))
    }

    @Test("the largest legal request is far below 8192 bytes")
    func sizeBound() throws {
        let request = try PaymentReturnRequest(
            clientIP: "1234567890", key: String(repeating: "&", count: 40), orderNumber: String(repeating: "<", count: 50))
        #expect(request.body.count <= ZeusLimits.maximumRequestBytes)
        #expect(request.body.count < 1024)
    }

    @Test(
        "input that breaks a field rule is refused",
        arguments: [
            ("1234", "key", "ORDER"), ("12345678901", "key", "ORDER"), ("12a45", "key", "ORDER"),
            ("12345", "", "ORDER"), ("12345", String(repeating: "k", count: 41), "ORDER"), ("12345", "k y", "ORDER"),
            ("12345", "key", ""), ("12345", "key", String(repeating: "9", count: 51)), ("12345", "key", "A B"),
            ("12345", "key", "取消"), ("12345", "key", "A\nB"),
        ])
    func refusals(clientIP: String, key: String, order: String) {
        #expect(throws: FieldError.self) {
            try PaymentReturnRequest(clientIP: clientIP, key: key, orderNumber: order)
        }
    }

    @Test("a refused key is never quoted in the refusal")
    func keyNotQuoted() {
        let error = #expect(throws: FieldError.self) {
            try PaymentReturnRequest(clientIP: "12345", key: "TOPSECRET with space", orderNumber: "A")
        }
        #expect(error.map { !"\($0)".contains("TOPSECRET") } == true)
    }
}
