/// Builds the `payment_return` request of SPEC.md, byte for byte.
///
/// Takes only values that passed the field rules (`FieldRules.swift`), so every request it builds
/// is one the gateway can parse and none can fail: the body is at most a few hundred bytes (50
/// order-number bytes and 40 key bytes, each escaped to at most 6), far below the 8192-byte limit.
public struct PaymentReturnRequest: Sendable {
    public let body: [UInt8]

    public init(clientIP: ClientIPCode, key: AuthKey, orderNumber: OrderNumber) {
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        xml += "<request service=\"secure_link\" action=\"payment_return\">\n"
        xml += "<authentication>\n"
        xml += "<clientip>\(clientIP.value)</clientip>\n"
        xml += "<key>\(Self.escaped(key.secret))</key>\n"
        xml += "</authentication>\n"
        xml += "<return>\n"
        xml += "<order_number>\(Self.escaped(orderNumber.value))</order_number>\n"
        xml += "</return>\n"
        xml += "</request>\n"
        body = Array(xml.utf8)
    }

    /// Validates the three fields with the field rules, then builds. The error names the field
    /// and the rule, never the key's content.
    public init(clientIP: String, key: String, orderNumber: String) throws(FieldError) {
        self.init(
            clientIP: try ClientIPCode(validating: clientIP), key: try AuthKey(validating: key),
            orderNumber: try OrderNumber(validating: orderNumber))
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
