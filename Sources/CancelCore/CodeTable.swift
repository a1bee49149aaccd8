/// What the gateway said: `result/status` and `result/code`, as received.
public struct GatewayAnswer: Hashable, Sendable, CustomStringConvertible {
    public var status: String
    public var code: String

    public init(status: String, code: String) {
        self.status = status
        self.code = code
    }

    public static func success(_ code: String = "000") -> Self { .init(status: "success", code: code) }
    public static func failure(_ code: String) -> Self { .init(status: "failure", code: code) }
    public static func invalid(_ code: String) -> Self { .init(status: "invalid", code: code) }
    public static func maintenance(_ code: String) -> Self { .init(status: "maintenance", code: code) }

    public var description: String { "\(status)/\(code)" }
}

/// The daemon's reading of an answer (SPEC.md's code table). Status first, code second.
public enum AnswerClass: Hashable, Sendable {
    case cancelled
    case alreadyCancelled
    case orderNotFound
    /// Our request is malformed (method, headers, XML, action): retrying cannot help.
    case requestRejected
    /// clientip or key missing, malformed or wrong: every job would fail the same way.
    case credentialsRejected
    /// `failure`: refused for reasons on the payment's side.
    case paymentRefused
    case maintenance
    case unrecognised
}

public enum CodeTable {
    public static let alreadyCancelled = "02180118"
    public static let orderNotFound = "02180114"
    public static let requestCodes: Set<String> = [
        "02030105", "02030106", "02030107", "02030108", "02030207", "02030208", "02030209",
    ]
    public static let actionCodes: Set<String> = ["02080114", "02080115"]
    public static let credentialCodes: Set<String> = [
        "02130114", "02130117", "02130110", "02130118", "02130214", "02130217", "02130210",
    ]

    public static func classify(_ answer: GatewayAnswer) -> AnswerClass {
        switch answer.status {
        case "success":
            // Only `000` is the spec's "cancelled"; success with another code is not in the table.
            return answer.code == "000" ? .cancelled : .unrecognised
        case "maintenance":
            // Public copies of the manual list dozens of maintenance codes: the status decides.
            return .maintenance
        case "failure":
            return .paymentRefused
        case "invalid":
            switch answer.code {
            case alreadyCancelled: return .alreadyCancelled
            case orderNotFound: return .orderNotFound
            case _ where requestCodes.contains(answer.code) || actionCodes.contains(answer.code):
                return .requestRejected
            case _ where credentialCodes.contains(answer.code):
                return .credentialsRejected
            default:
                return .unrecognised
            }
        default:
            return .unrecognised
        }
    }

    /// The specification's meaning of a code, for the status output and the logs.
    public static func meaning(of code: String) -> String? { meanings[code] }

    /// The meaning of an answer's code, only under the status the specification gives it: shown
    /// next to `failure/000`, "cancelled" would read as a confirmation that never came.
    public static func meaning(of answer: GatewayAnswer) -> String? {
        let expectedStatus: String
        switch answer.code {
        case "000": expectedStatus = "success"
        case "02189999": expectedStatus = "failure"
        case "02000012", "02051010": expectedStatus = "maintenance"
        default: expectedStatus = "invalid"
        }
        return answer.status == expectedStatus ? meanings[answer.code] : nil
    }

    /// The same for a stored status and code (either may be missing).
    public static func meaning(status: String?, code: String?) -> String? {
        guard let status, let code else { return nil }
        return meaning(of: GatewayAnswer(status: status, code: code))
    }

    private static let meanings: [String: String] = [
        "000": "cancelled",
        "02030105": "request method was not POST",
        "02030106": "Content-Type was not text/xml or application/xml",
        "02030107": "Content-Length missing or 0",
        "02030108": "Content-Length over 8192 bytes",
        "02030207": "no XML data sent",
        "02030208": "XML data over 8192 bytes",
        "02030209": "XML syntax error",
        "02080114": "XML action is empty",
        "02080115": "invalid action",
        "02130114": "authentication clientip missing",
        "02130117": "clientip format invalid",
        "02130110": "wrong clientip",
        "02130118": "wrong clientip",
        "02130214": "authentication key missing",
        "02130217": "key format invalid",
        "02130210": "wrong key",
        "02180114": "order to cancel not found",
        "02180118": "order already cancelled",
        "02189999": "refused for reasons on the payment's side; ask ZEUS for details",
        "02000012": "payment centre in maintenance; no cancellation possible",
        "02051010": "payment centre in maintenance; no cancellation possible",
    ]
}
