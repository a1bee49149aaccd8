import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The gateway's answer: `result/status` and `result/code`, read with a real XML parser.
public struct PaymentReturnResponse: Hashable, Sendable {
    public var status: String
    public var code: String

    public init(status: String, code: String) {
        self.status = status
        self.code = code
    }

    public enum DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
        case empty
        case tooLarge(bytes: Int)
        /// Refused before any parser saw it (encoding, DTD, entity, processing instruction).
        case refused(XMLPrescreen.Refusal)
        case notXML(String)
        case wrongRoot(String)
        /// The root is `response` but not for `secure_link` / `payment_return`.
        case wrongService(attribute: String, value: String?)
        case missingElement(String)
        case duplicateElement(String)
        case unexpectedElement(String)
        case fieldTooLong(String)

        public var description: String {
            switch self {
            case .empty: "empty body"
            case .tooLarge(let bytes): "body of \(bytes) bytes exceeds the 64 KiB an answer may have"
            case .refused(let refusal): refusal.description
            case .notXML(let detail): "not well-formed XML (\(LogText.escaped(detail, limit: 120)))"
            case .wrongRoot(let name): "root element is <\(LogText.escaped(name, limit: 40))>, expected <response>"
            case .wrongService(let attribute, let value):
                "<response> has \(attribute)=\(value.map { "\"\(LogText.escaped($0, limit: 40))\"" } ?? "missing"), expected "
                    + (attribute == "service" ? "\"secure_link\"" : "\"payment_return\"")
            case .missingElement(let path): "no \(path) in the answer"
            case .duplicateElement(let path): "\(path) appears more than once"
            case .unexpectedElement(let path): "unexpected element \(LogText.escaped(path, limit: 80))"
            case .fieldTooLong(let path): "\(path) is implausibly long"
            }
        }
    }

    /// Fields longer than this are not a ZEUS answer (status ≤ 11, code ≤ 10 per the spec).
    static let maximumFieldLength = 64

    public static func decode(_ body: [UInt8]) throws(DecodeError) -> PaymentReturnResponse {
        guard body.count <= ZeusLimits.maximumResponseBytes else { throw .tooLarge(bytes: body.count) }
        var start = 0
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        // libxml2 refuses anything before the XML declaration; padding there is harmless.
        while start < body.count, [0x20, 0x09, 0x0A, 0x0D].contains(body[start]) { start += 1 }
        guard start < body.count else { throw .empty }
        let content = body[start...]
        if let refusal = XMLPrescreen.refusal(content) { throw .refused(refusal) }

        let collector = ResponseCollector()
        let parser = XMLParser(data: Data(content))
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.delegate = collector
        let parsed = parser.parse()
        if let error = collector.error { throw error }
        guard parsed else {
            let detail = parser.parserError.map { "\($0.localizedDescription)" } ?? "parser error"
            throw .notXML("line \(parser.lineNumber): \(detail)")
        }
        guard let root = collector.root else { throw .notXML("no root element") }
        guard root == "response" else { throw .wrongRoot(root) }
        // FoundationXML on Linux reports success for a document cut short: check it was closed.
        guard collector.rootClosed else { throw .notXML("document ends before </response>") }
        guard let status = collector.status else { throw .missingElement("<result><status>") }
        guard let code = collector.code else { throw .missingElement("<result><code>") }
        return PaymentReturnResponse(status: trimmingXMLSpace(status), code: trimmingXMLSpace(code))
    }

    /// XML's own white space only (space, tab, CR, LF): a no-break or zero-width space around
    /// `000` is not `000`, so such an answer stays unrecognised instead of reading as cancelled.
    static func trimmingXMLSpace(_ text: String) -> String {
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }), let last = scalars.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(scalars[first...last])
    }
}

/// Collects the root name and the text of /response/result/{status,code}. Never aborts the parser:
/// FoundationXML leaks the error object of an abort; once `error` is set the rest is ignored.
private final class ResponseCollector: NSObject, XMLParserDelegate {
    var root: String?
    var status: String?
    var code: String?
    var error: PaymentReturnResponse.DecodeError?
    var rootClosed = false
    private var path: [String] = []
    private var text = ""

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName: String?, attributes: [String: String] = [:]
    ) {
        if path.isEmpty {
            root = elementName
            if elementName != "response" { fail(.wrongRoot(elementName)) }
            for (name, expected) in [("service", "secure_link"), ("action", "payment_return")]
            where attributes[name] != expected {
                fail(.wrongService(attribute: name, value: attributes[name]))
            }
        } else if path.count == 3 {
            // status and code hold text only: a child element would hide part of the value.
            fail(.unexpectedElement("/" + (path + [elementName]).joined(separator: "/")))
        }
        path.append(elementName)
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard path.count == 3, error == nil else { return }
        text += string
        if text.count > PaymentReturnResponse.maximumFieldLength {
            fail(.fieldTooLong("/" + path.joined(separator: "/")))
        }
    }

    func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?
    ) {
        if path.count == 3, path[0] == "response", path[1] == "result" {
            switch path[2] {
            case "status": store(&status, "/response/result/status")
            case "code": store(&code, "/response/result/code")
            default: break
            }
        }
        path.removeLast()
        if path.isEmpty { rootClosed = true }
        text = ""
    }

    private func store(_ field: inout String?, _ name: String) {
        guard field == nil else { return fail(.duplicateElement(name)) }
        field = text
    }

    /// Keeps the first problem found.
    private func fail(_ problem: PaymentReturnResponse.DecodeError) {
        if error == nil { error = problem }
    }
}
