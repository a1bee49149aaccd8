/// An allowlist run on raw bytes before FoundationXML sees them. A ZEUS message needs elements,
/// attributes, text, the five predefined entities and numeric character references, in UTF-8,
/// after at most one XML declaration; everything else is refused here, because FoundationXML on
/// Linux (libxml2 underneath) misbehaves on it: it autodetects UTF-16 and UTF-32 from NUL bytes
/// and then segfaults on a processing instruction without data (`<?x?>`), traps on element names
/// that are not UTF-8, and would switch encodings on an `encoding=` declaration. Found by fuzzing;
/// see README, "Fuzzing".
public enum XMLPrescreen {
    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        case notUTF8
        /// Any NUL byte: UTF-16 and UTF-32 bodies carry them, UTF-8 XML never does.
        case nulByte
        /// A character XML does not allow (a control character other than tab, LF and CR, or
        /// U+FFFE/U+FFFF): libxml2 recovers from one by ending the construct it is in, so what
        /// this scan skipped as a comment was parsed as markup (a segfault, under CI's fuzzer).
        case forbiddenCharacter
        /// An XML declaration naming an encoding other than UTF-8.
        case declaredEncoding(String)
        /// `<!` other than a comment: a DTD, an entity declaration or a CDATA section.
        case markupDeclaration
        /// A processing instruction other than the leading XML declaration.
        case processingInstruction
        /// `&` that is not one of the five predefined entities or a character reference.
        case entityReference

        public var description: String {
            switch self {
            case .notUTF8: "body is not valid UTF-8"
            case .nulByte: "body contains a NUL byte (UTF-16 or UTF-32?); only UTF-8 is accepted"
            case .forbiddenCharacter: "body contains a control character or a non-character that XML does not allow"
            case .declaredEncoding(let name):
                "body declares encoding \"\(LogText.escaped(String(name.prefix(20))))\"; only UTF-8 is accepted"
            case .markupDeclaration: "body has a DTD, entity declaration or CDATA section, which no gateway message has"
            case .processingInstruction: "body has a processing instruction besides the XML declaration"
            case .entityReference: "body refers to an entity other than the five predefined ones"
            }
        }
    }

    /// nil when the bytes may be given to the parser. `bytes` starts after any byte-order mark.
    public static func refusal(_ bytes: ArraySlice<UInt8>) -> Refusal? {
        if bytes.contains(0) { return .nulByte }
        guard let text = String(validating: bytes, as: UTF8.self) else { return .notUTF8 }
        if text.unicodeScalars.contains(where: { scalar in
            (scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r") || scalar.value == 0xFFFE || scalar.value == 0xFFFF
        }) {
            return .forbiddenCharacter
        }
        var index = bytes.startIndex
        if let declarationEnd = declarationEnd(bytes) {
            if let name = declaredEncoding(bytes[bytes.startIndex..<declarationEnd]),
                name.lowercased() != "utf-8"
            {
                return .declaredEncoding(name)
            }
            index = declarationEnd
        }
        while index < bytes.endIndex {
            switch bytes[index] {
            case UInt8(ascii: "<") where index + 1 < bytes.endIndex:
                if bytes[index + 1] == UInt8(ascii: "?") { return .processingInstruction }
                if bytes[index + 1] == UInt8(ascii: "!") {
                    // A comment is harmless (a proxy may add one): skip to its end, unread.
                    guard bytes[index...].starts(with: commentStart), let end = commentEnd(bytes, from: index + 4) else {
                        return .markupDeclaration
                    }
                    index = end
                    continue
                }
            case UInt8(ascii: "&"):
                guard let length = referenceLength(bytes[index...]) else { return .entityReference }
                index += length - 1
            default:
                break
            }
            index += 1
        }
        return nil
    }

    private static let commentStart = Array("<!--".utf8)

    /// The index after the `-->` that closes a comment whose text starts at `start`; nil when the
    /// text holds `--` elsewhere, which XML forbids in a comment: libxml2 then ends the comment
    /// where this scan would not, and parses as markup what was skipped here unread (a `<?xml …?>`
    /// behind `<!--c -><` segfaulted FoundationXML under CI's fuzzer).
    static func commentEnd(_ bytes: ArraySlice<UInt8>, from start: Int) -> Int? {
        var index = start
        while index + 2 < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "-") && bytes[index + 1] == UInt8(ascii: "-") {
                return bytes[index + 2] == UInt8(ascii: ">") ? index + 3 : nil
            }
            index += 1
        }
        return nil
    }

    /// The index after `?>` when `bytes` starts with an XML declaration (`<?xml` and white space)
    /// made of pseudo-attributes only. A `<` or `>` before the `?>` means what looked like a
    /// declaration hides markup (`<?xml v><c<?x?>` crashed FoundationXML under libFuzzer): nil,
    /// and the scan then refuses the `<?` at the start as a processing instruction.
    static func declarationEnd(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard bytes.starts(with: Array("<?xml".utf8)), bytes.count > 5,
            isSpace(bytes[bytes.startIndex + 5])
        else { return nil }
        var index = bytes.startIndex + 5
        while index + 1 < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "?") && bytes[index + 1] == UInt8(ascii: ">") { return index + 2 }
            if bytes[index] == UInt8(ascii: "<") || bytes[index] == UInt8(ascii: ">") { return nil }
            index += 1
        }
        return nil  // unterminated: refused by the scan as a processing instruction
    }

    /// The value of `encoding="…"` in a declaration, if it names one.
    static func declaredEncoding(_ declaration: ArraySlice<UInt8>) -> String? {
        let text = String(decoding: declaration, as: UTF8.self)
        guard let key = text.range(of: "encoding") else { return nil }
        var rest = text[key.upperBound...].drop { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard rest.first == "=" else { return "?" }
        rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let quote = rest.first, quote == "\"" || quote == "'" else { return "?" }
        let value = rest.dropFirst().prefix { $0 != quote }
        return String(value)
    }

    /// The length of `&…;` when it is a predefined entity or a character reference to a character
    /// XML allows; nil otherwise.
    static func referenceLength(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard let semicolon = bytes.prefix(12).firstIndex(of: UInt8(ascii: ";")) else { return nil }
        let name = Array(bytes[(bytes.startIndex + 1)..<semicolon])
        let length = semicolon - bytes.startIndex + 1
        if predefined.contains(name) { return length }
        guard name.first == UInt8(ascii: "#"), name.count > 1 else { return nil }
        let isHex = name[1] == UInt8(ascii: "x")
        let digits = name.dropFirst(isHex ? 2 : 1)
        guard !digits.isEmpty, let value = UInt32(String(decoding: digits, as: UTF8.self), radix: isHex ? 16 : 10)
        else { return nil }
        let allowed = value == 0x9 || value == 0xA || value == 0xD || (0x20...0xD7FF).contains(value)
            || (0xE000...0xFFFD).contains(value) || (0x10000...0x10FFFF).contains(value)
        return allowed ? length : nil
    }

    private static let predefined: Set<[UInt8]> = Set(["amp", "lt", "gt", "quot", "apos"].map { Array($0.utf8) })

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
}
