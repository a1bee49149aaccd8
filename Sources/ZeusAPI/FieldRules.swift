/// ZEUS's field rules, in one home: the encoder takes only values that passed them, the state
/// machine validates order numbers with them, and the simulator judges requests by them.
/// A value that breaks ZEUS's field rules. The text names the field and the rule, never a key's content.
public enum FieldError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty(field: String)
    case tooShort(field: String, minimum: Int, actual: Int)
    case tooLong(field: String, maximum: Int, actual: Int)
    /// `character` is nil for secrets: their content never appears in a message.
    case forbiddenCharacter(field: String, position: Int, character: String?, rule: String)

    public var description: String {
        switch self {
        case .empty(let field):
            return "\(field) is empty"
        case .tooShort(let field, let minimum, let actual):
            return "\(field) is \(actual) characters long; it needs at least \(minimum)"
        case .tooLong(let field, let maximum, let actual):
            return "\(field) is \(actual) bytes long; at most \(maximum) are allowed"
        case .forbiddenCharacter(let field, let position, let character, let rule):
            let what = character.map { "character \($0)" } ?? "a character"
            return "\(field) has \(what) at position \(position); allowed: \(rule)"
        }
    }
}

/// Printable ASCII without space: ZEUS's "half-width alphanumerics and symbols".
@inlinable
func isHalfWidthVisible(_ byte: UInt8) -> Bool { byte >= 0x21 && byte <= 0x7E }

func describeByte(_ byte: UInt8) -> String {
    if isHalfWidthVisible(byte) { return "'\(Character(Unicode.Scalar(byte)))'" }
    if byte == 0x20 { return "' ' (space)" }
    let hex = String(byte, radix: 16, uppercase: true)
    return "0x" + (hex.count == 1 ? "0" + hex : hex)
}

/// The order to cancel: 1 to 50 bytes of printable ASCII without spaces, sent exactly as given.
public struct OrderNumber: Hashable, Sendable, CustomStringConvertible {
    public static let maximumBytes = ZeusLimits.orderNumberMaximumBytes
    public let value: String

    public init(validating value: String) throws(FieldError) {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty else { throw .empty(field: "order number") }
        guard bytes.count <= Self.maximumBytes else {
            throw .tooLong(field: "order number", maximum: Self.maximumBytes, actual: bytes.count)
        }
        if let index = bytes.firstIndex(where: { !isHalfWidthVisible($0) }) {
            throw .forbiddenCharacter(
                field: "order number", position: index + 1, character: describeByte(bytes[index]),
                rule: "printable ASCII without spaces")
        }
        self.value = value
    }

    public var description: String { value }
}

/// The IP code ZEUS issues: 5 to 10 half-width digits.
public struct ClientIPCode: Hashable, Sendable, CustomStringConvertible {
    public static let digits = ZeusLimits.clientIPDigits
    public let value: String

    public init(validating value: String) throws(FieldError) {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty else { throw .empty(field: "client IP code") }
        if let index = bytes.firstIndex(where: { !($0 >= 0x30 && $0 <= 0x39) }) {
            throw .forbiddenCharacter(
                field: "client IP code", position: index + 1, character: describeByte(bytes[index]),
                rule: "digits 0-9")
        }
        guard bytes.count >= Self.digits.lowerBound else {
            throw .tooShort(field: "client IP code", minimum: Self.digits.lowerBound, actual: bytes.count)
        }
        guard bytes.count <= Self.digits.upperBound else {
            throw .tooLong(field: "client IP code", maximum: Self.digits.upperBound, actual: bytes.count)
        }
        self.value = value
    }

    public var description: String { value }
}

/// The authentication key ZEUS issues: 1 to 40 printable ASCII characters. A secret: its
/// `description` is redacted, so string interpolation cannot leak it into a log line.
public struct AuthKey: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public static let maximumBytes = ZeusLimits.keyMaximumBytes
    /// The key itself; use only to build the request body.
    public let secret: String

    public init(validating secret: String) throws(FieldError) {
        let bytes = Array(secret.utf8)
        guard !bytes.isEmpty else { throw .empty(field: "authentication key") }
        guard bytes.count <= Self.maximumBytes else {
            throw .tooLong(field: "authentication key", maximum: Self.maximumBytes, actual: bytes.count)
        }
        if let index = bytes.firstIndex(where: { !isHalfWidthVisible($0) }) {
            throw .forbiddenCharacter(
                field: "authentication key", position: index + 1, character: nil,
                rule: "printable ASCII without spaces")
        }
        self.secret = secret
    }

    public var description: String { "<redacted key, \(secret.utf8.count) characters>" }
    public var debugDescription: String { description }
}
