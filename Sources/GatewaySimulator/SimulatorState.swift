import Synchronization
import ZeusAPI

/// The simulated gateway's memory and its validation, in the order of SPEC.md's code table:
/// method, Content-Type, Content-Length, sizes, XML syntax, action, credentials, then the order.
/// Independent of HTTP so that every rule is testable without a socket.
public final class SimulatorState: Sendable {
    public let clientIP: String
    public let key: String

    private struct Memory {
        var cancelled: Set<String> = []
        var missing: Set<String> = []
        var maintenance = false
        var latency: Double
        /// Faults per order; `nil` key = every order.
        var faults: [String?: [SimulatorFault]] = [:]
        var log: [ReceivedRequest] = []
    }

    private let memory: Mutex<Memory>

    public init(clientIP: String, key: String, latency: Double = 0, maintenance: Bool = false) {
        self.clientIP = clientIP
        self.key = key
        var initial = Memory(latency: latency)
        initial.maintenance = maintenance
        memory = Mutex(initial)
    }

    // MARK: Hooks for tests and integrators

    public func setMaintenance(_ on: Bool) { memory.withLock { $0.maintenance = on } }
    public func setLatency(_ seconds: Double) { memory.withLock { $0.latency = max(0, seconds) } }

    /// Applies `fault` to the next `times` requests for `order` (every order when nil).
    public func addFault(_ fault: SimulatorFault, times: Int = 1, order: String? = nil) {
        memory.withLock { $0.faults[order, default: []] += Array(repeating: fault, count: max(0, times)) }
    }

    /// The gateway does not know this order (02180114) until `forget` is called.
    public func markMissing(_ order: String) { memory.withLock { _ = $0.missing.insert(order) } }
    public func forgetMissing(_ order: String) { memory.withLock { _ = $0.missing.remove(order) } }
    public func isCancelled(_ order: String) -> Bool { memory.withLock { $0.cancelled.contains(order) } }
    public var cancelledOrders: Set<String> { memory.withLock { $0.cancelled } }

    /// Every gateway request received so far, in order.
    public var requests: [ReceivedRequest] { memory.withLock { $0.log } }

    public func reset() {
        memory.withLock {
            let latency = $0.latency
            $0 = Memory(latency: latency)
        }
    }

    // MARK: The gateway

    /// Decides the reply to one request to the gateway endpoint.
    /// `bodyBytes` is the length received (the body itself may have been cut at the limit).
    public func reply(
        method: String, contentType: [String], contentLength: [String], body: [UInt8], bodyBytes: Int
    ) -> SimulatedReply {
        let latency = memory.withLock { $0.latency }
        func invalid(_ code: String, order: String? = nil) -> SimulatedReply {
            log(order: order, answer: "invalid/\(code)", cancelled: false)
            return .xml(status: "invalid", code: code, delay: latency)
        }
        guard method == "POST" else { return invalid("02030105") }
        // The gateway compares the header: parameters such as "; charset=utf-8" are refused.
        guard contentType.count == 1, ["application/xml", "text/xml"].contains(contentType[0].lowercased()) else {
            return invalid("02030106")
        }
        guard let lengthText = contentLength.first, let length = Int(lengthText), length > 0 else {
            return invalid("02030107")
        }
        guard length <= ZeusLimits.maximumRequestBytes else { return invalid("02030108") }
        guard bodyBytes > 0 else { return invalid("02030207") }
        guard bodyBytes <= ZeusLimits.maximumRequestBytes else { return invalid("02030208") }
        guard let request = ParsedRequest.parse(body), request.root == "request" else { return invalid("02030209") }
        guard let action = request.action, !action.isEmpty else { return invalid("02080114") }
        guard action == "payment_return" else { return invalid("02080115") }

        let order = request.orderNumber
        guard let clientIP = request.clientIP else { return invalid("02130114", order: order) }
        // The field rules the encoder and the daemon use (ZeusAPI's FieldRules), one home.
        guard (try? ClientIPCode(validating: clientIP)) != nil else { return invalid("02130117", order: order) }
        guard clientIP == self.clientIP else { return invalid("02130110", order: order) }
        guard let key = request.key else { return invalid("02130214", order: order) }
        guard (try? AuthKey(validating: key)) != nil else { return invalid("02130217", order: order) }
        guard key == self.key else { return invalid("02130210", order: order) }
        return decide(order: order, latency: latency)
    }

    private func decide(order: String?, latency: Double) -> SimulatedReply {
        memory.withLock { memory in
            let sequence = memory.log.count + 1
            func record(_ answer: String, cancelled: Bool) {
                memory.log.append(
                    .init(sequence: sequence, orderNumber: order, answer: answer, cancelled: cancelled, at: Self.uptime()))
            }
            if memory.maintenance {
                record("maintenance/02000012", cancelled: false)
                return .xml(status: "maintenance", code: "02000012", delay: latency)
            }
            guard let order, !order.isEmpty else {
                record("invalid/02180114", cancelled: false)
                return .xml(status: "invalid", code: "02180114", delay: latency)
            }
            var fault: SimulatorFault?
            if var queue = memory.faults[order], !queue.isEmpty {
                fault = queue.removeFirst()
                memory.faults[order] = queue
            } else if var queue = memory.faults[nil], !queue.isEmpty {
                fault = queue.removeFirst()
                memory.faults[nil] = queue
            }
            var delay = latency
            switch fault {
            case .answer(let status, let code):
                record("\(status)/\(code)", cancelled: false)
                return .xml(status: status, code: code, delay: latency)
            case .html:
                record("html", cancelled: false)
                let page = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
                return .raw(httpStatus: 200, contentType: "text/html", body: Array(page.utf8), delay: latency)
            case .garbage:
                record("garbage", cancelled: false)
                return .raw(httpStatus: 200, contentType: "application/xml", body: Array("\u{1}\u{2}<<status>".utf8), delay: latency)
            case .httpStatus(let status):
                record("http \(status)", cancelled: false)
                let page = "<html><body>" + String(repeating: "error ", count: 12_000) + "</body></html>"
                return .raw(httpStatus: status, contentType: "text/html", body: Array(page.utf8), delay: latency)
            case .delay(let seconds):
                delay = seconds
            case .hang, .cut, .trickle, .none:
                break
            }
            // The order is processed: the gateway's own answer, possibly never delivered.
            let answer: (status: String, code: String)
            var cancelledNow = false
            if memory.missing.contains(order) {
                answer = ("invalid", "02180114")
            } else if memory.cancelled.contains(order) {
                answer = ("invalid", "02180118")
            } else {
                memory.cancelled.insert(order)
                cancelledNow = true
                answer = ("success", "000")
            }
            switch fault {
            case .hang:
                record("hang (processed as \(answer.status)/\(answer.code))", cancelled: cancelledNow)
                return .hang
            case .cut:
                record("cut (processed as \(answer.status)/\(answer.code))", cancelled: cancelledNow)
                return .cut
            case .trickle(let interval):
                record("trickle (processed as \(answer.status)/\(answer.code))", cancelled: cancelledNow)
                return .trickle(status: answer.status, code: answer.code, interval: interval)
            default:
                record("\(answer.status)/\(answer.code)", cancelled: cancelledNow)
                return .xml(status: answer.status, code: answer.code, delay: delay)
            }
        }
    }

    private func log(order: String?, answer: String, cancelled: Bool) {
        memory.withLock {
            $0.log.append(
                .init(sequence: $0.log.count + 1, orderNumber: order, answer: answer, cancelled: cancelled, at: Self.uptime()))
        }
    }

    /// Seconds since the simulator module was first used, on the monotonic clock `ReceivedRequest.at` uses.
    public static func uptime() -> Double {
        let now = ContinuousClock.now - start
        return Double(now.components.seconds) + Double(now.components.attoseconds) / 1e18
    }

    private static let start = ContinuousClock.now

    /// The answer body, in the shape of the spec's examples.
    public static func answerBody(status: String, code: String) -> [UInt8] {
        Array(
            """
            <?xml version="1.0" encoding="utf-8"?>
            <response service="secure_link" action="payment_return">
            <result>
            <status>\(status)</status>
            <code>\(code)</code>
            </result>
            </response>

            """.utf8)
    }
}
