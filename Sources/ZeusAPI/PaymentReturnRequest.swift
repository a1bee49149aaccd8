/// Builds the `payment_return` request of SPEC.md, byte for byte.
///
/// Refuses anything that breaks the field rules, so a request that leaves is one the gateway can
/// parse; the body is then at most a few hundred bytes, far below the 8192-byte limit.
public struct PaymentReturnRequest: Sendable {
    public let body: [UInt8]

    public enum Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        case clientIP(String)
        case key(String)
        case orderNumber(String)
        case tooLarge(bytes: Int)

        public var description: String {
            switch self {
            case .clientIP(let why): "client IP code refused: \(why)"
            case .key(let why): "authentication key refused: \(why)"
            case .orderNumber(let why): "order number refused: \(why)"
            case .tooLarge(let bytes): "request body would be \(bytes) bytes; the gateway accepts at most 8192"
            }
        }
    }

    public init(clientIP: String, key: String, orderNumber: String) throws(Refusal) {
        let digits = Array(clientIP.utf8)
        guard ZeusLimits.clientIPDigits.contains(digits.count), digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw .clientIP("must be 5 to 10 digits")
        }
        // The key's content never appears in a refusal.
        if let why = Self.visibleASCIIViolation(key, maximum: ZeusLimits.keyMaximumBytes) { throw .key(why) }
        if let why = Self.visibleASCIIViolation(orderNumber, maximum: ZeusLimits.orderNumberMaximumBytes) {
            throw .orderNumber(why)
        }
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        xml += "<request service=\"secure_link\" action=\"payment_return\">\n"
        xml += "<authentication>\n"
        xml += "<clientip>\(clientIP)</clientip>\n"
        xml += "<key>\(Self.escaped(key))</key>\n"
        xml += "</authentication>\n"
        xml += "<return>\n"
        xml += "<order_number>\(Self.escaped(orderNumber))</order_number>\n"
        xml += "</return>\n"
        xml += "</request>\n"
        let body = Array(xml.utf8)
        guard body.count <= ZeusLimits.maximumRequestBytes else { throw .tooLarge(bytes: body.count) }
        self.body = body
    }

    /// Half-width alphanumerics and symbols: printable ASCII, no space, 1 to `maximum` bytes.
    static func visibleASCIIViolation(_ value: String, maximum: Int) -> String? {
        let bytes = Array(value.utf8)
        if bytes.isEmpty { return "empty" }
        if bytes.count > maximum { return "\(bytes.count) bytes, at most \(maximum) allowed" }
        if let index = bytes.firstIndex(where: { $0 < 0x21 || $0 > 0x7E }) {
            return "byte \(index + 1) is not printable ASCII (spaces are not allowed either)"
        }
        return nil
    }

    static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }
}
