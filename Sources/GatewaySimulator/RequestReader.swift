import Foundation
import ZeusAPI

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The parts of a `payment_return` request the gateway checks, read with a real XML parser.
struct ParsedRequest {
    var root: String
    var action: String?
    var clientIP: String?
    var key: String?
    var orderNumber: String?

    /// nil when the body is not well-formed UTF-8 XML (the gateway's 02030209).
    static func parse(_ body: [UInt8]) -> ParsedRequest? {
        guard XMLPrescreen.refusal(body[...]) == nil else { return nil }
        let collector = RequestCollector()
        let parser = XMLParser(data: Data(body))
        parser.shouldResolveExternalEntities = false
        parser.delegate = collector
        guard parser.parse(), collector.closed, let root = collector.root else { return nil }
        return ParsedRequest(
            root: root, action: collector.action, clientIP: collector.texts["request/authentication/clientip"],
            key: collector.texts["request/authentication/key"], orderNumber: collector.texts["request/return/order_number"])
    }
}

private final class RequestCollector: NSObject, XMLParserDelegate {
    var root: String?
    var action: String?
    var texts: [String: String] = [:]
    var closed = false
    private var path: [String] = []
    private var text = ""

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        if path.isEmpty {
            root = elementName
            action = attributes["action"]
        }
        path.append(elementName)
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        let key = path.joined(separator: "/")
        if texts[key] == nil { texts[key] = text }
        path.removeLast()
        if path.isEmpty { closed = true }
        text = ""
    }
}
