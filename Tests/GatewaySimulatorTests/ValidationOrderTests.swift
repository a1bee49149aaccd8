import GatewaySimulator
import Testing
import ZeusAPI

/// The simulator checks requests in the order of SPEC.md's code table; each rule by its code.
@Suite("Gateway simulator validation")
struct ValidationOrderTests {
    let state = SimulatorState(clientIP: "12345", key: "demo-key")

    func body(clientIP: String? = "12345", key: String? = "demo-key", order: String? = "ORDER-1", action: String? = "payment_return") -> [UInt8] {
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<request service=\"secure_link\""
        if let action { xml += " action=\"\(action)\"" }
        xml += ">\n<authentication>\n"
        if let clientIP { xml += "<clientip>\(clientIP)</clientip>\n" }
        if let key { xml += "<key>\(key)</key>\n" }
        xml += "</authentication>\n<return>\n"
        if let order { xml += "<order_number>\(order)</order_number>\n" }
        xml += "</return>\n</request>\n"
        return Array(xml.utf8)
    }

    func reply(
        method: String = "POST", contentType: [String] = ["application/xml"], contentLength: [String]? = nil,
        body: [UInt8]? = nil
    ) -> SimulatedReply {
        let bytes = body ?? self.body()
        return state.reply(
            method: method, contentType: contentType, contentLength: contentLength ?? [String(bytes.count)], body: bytes,
            bodyBytes: bytes.count)
    }

    func code(_ reply: SimulatedReply) -> String? {
        if case .xml(_, let code, _) = reply { return code }
        return nil
    }

    @Test("a correct request cancels, a second answers 02180118")
    func successThenAlreadyCancelled() {
        #expect(reply() == .xml(status: "success", code: "000", delay: 0))
        #expect(reply() == .xml(status: "invalid", code: "02180118", delay: 0))
        #expect(state.isCancelled("ORDER-1"))
    }

    @Test("the encoder's request passes every check of the simulator")
    func encoderMeetsSimulator() throws {
        let request = try PaymentReturnRequest(clientIP: "12345", key: "demo-key", orderNumber: "A&B<C>")
        #expect(reply(body: request.body) == .xml(status: "success", code: "000", delay: 0))
        #expect(state.isCancelled("A&B<C>"))
    }

    @Test("method, Content-Type, Content-Length and sizes: 02030105 to 02030208")
    func transportRules() {
        #expect(code(reply(method: "GET")) == "02030105")
        #expect(code(reply(contentType: ["application/json"])) == "02030106")
        #expect(code(reply(contentType: ["application/xml; charset=utf-8"])) == "02030106", "the header is compared")
        #expect(code(reply(contentType: ["text/xml"])) == "000")
        #expect(code(reply(contentLength: [])) == "02030107")
        #expect(code(reply(contentLength: ["0"])) == "02030107")
        #expect(code(reply(contentLength: ["9000"])) == "02030108")
        #expect(code(reply(contentLength: ["10"], body: [])) == "02030207")
        let big = [UInt8](repeating: 0x20, count: 8193)
        #expect(code(reply(contentLength: ["8000"], body: big)) == "02030208")
    }

    @Test("XML syntax and action: 02030209, 02080114, 02080115")
    func xmlAndAction() {
        #expect(code(reply(body: Array("<request><unclosed>".utf8))) == "02030209")
        #expect(code(reply(body: Array("<?pi?><request/>".utf8))) == "02030209")
        #expect(code(reply(body: body(action: nil))) == "02080114")
        #expect(code(reply(body: body(action: ""))) == "02080114")
        #expect(code(reply(body: body(action: "payment"))) == "02080115")
    }

    @Test("credentials: 02130114, 02130117, 02130110, 02130214, 02130217, 02130210")
    func credentials() {
        #expect(code(reply(body: body(clientIP: nil))) == "02130114")
        #expect(code(reply(body: body(clientIP: "12a45"))) == "02130117")
        #expect(code(reply(body: body(clientIP: "54321"))) == "02130110")
        #expect(code(reply(body: body(key: nil))) == "02130214")
        #expect(code(reply(body: body(key: "has space"))) == "02130217")
        #expect(code(reply(body: body(key: "wrong-key"))) == "02130210")
        #expect(state.cancelledOrders.isEmpty, "nothing is cancelled on a rejected request")
    }

    @Test("order: missing or unknown 02180114; maintenance before the order")
    func orderRules() {
        #expect(code(reply(body: body(order: nil))) == "02180114")
        state.markMissing("ORDER-1")
        #expect(code(reply()) == "02180114")
        state.forgetMissing("ORDER-1")
        state.setMaintenance(true)
        #expect(reply() == .xml(status: "maintenance", code: "02000012", delay: 0))
        state.setMaintenance(false)
        #expect(code(reply()) == "000")
    }

    @Test("faults apply to the next requests of their order, then the gateway behaves again")
    func faults() {
        state.addFault(.answer(status: "failure", code: "02189999"), times: 2, order: "ORDER-1")
        state.addFault(.hang, order: "ORDER-2")
        #expect(code(reply()) == "02189999")
        #expect(code(reply()) == "02189999")
        #expect(code(reply()) == "000")
        #expect(reply(body: body(order: "ORDER-2")) == .hang)
        #expect(state.isCancelled("ORDER-2"), "a hang processes the cancellation: the answer is what is lost")
        #expect(code(reply(body: body(order: "ORDER-2"))) == "02180118")
        #expect(state.requests.map(\.answer).prefix(3) == ["failure/02189999", "failure/02189999", "success/000"])
    }

    @Test("the control API's fault kinds parse, and unknown ones are refused")
    func faultKinds() {
        #expect(SimulatorFault(kind: "failure", status: nil, code: nil, seconds: nil) == .answer(status: "failure", code: "02189999"))
        #expect(SimulatorFault(kind: "delay", status: nil, code: nil, seconds: 1.5) == .delay(1.5))
        #expect(SimulatorFault(kind: "delay", status: nil, code: nil, seconds: nil) == nil)
        #expect(SimulatorFault(kind: "answer", status: "invalid", code: "02999999", seconds: nil) == .answer(status: "invalid", code: "02999999"))
        #expect(SimulatorFault(kind: "status", status: nil, code: "503", seconds: nil) == .httpStatus(503))
        #expect(SimulatorFault(kind: "status", status: nil, code: "99", seconds: nil) == nil)
        #expect(SimulatorFault(kind: "trickle", status: nil, code: nil, seconds: nil) == .trickle(0.5))
        #expect(SimulatorFault(kind: "trickle", status: nil, code: nil, seconds: 2) == .trickle(2))
        #expect(SimulatorFault(kind: "trickle", status: nil, code: nil, seconds: 0) == nil)
        #expect(SimulatorFault(kind: "explode", status: nil, code: nil, seconds: nil) == nil)
    }
}
