/// Checks run on raw bytes before FoundationXML sees them: constructs no ZEUS message contains and
/// that make FoundationXML on Linux misbehave (found by fuzzing; see README, "Fuzzing").
public enum XMLPrescreen {
    public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        case notUTF8
        case doctype
        /// A processing instruction other than the leading XML declaration. FoundationXML reads a
        /// data-less one (`<?x?>`) through a NULL pointer and crashes the process.
        case processingInstruction

        public var description: String {
            switch self {
            case .notUTF8: "body is not valid UTF-8"
            case .doctype: "body declares a DTD, which no gateway message does"
            case .processingInstruction: "body has a processing instruction besides the XML declaration"
            }
        }
    }

    /// nil when the bytes may be given to the parser.
    public static func refusal(_ bytes: ArraySlice<UInt8>) -> Refusal? {
        // FoundationXML on Linux traps on element names that are not UTF-8.
        guard String(validating: bytes, as: UTF8.self) != nil else { return .notUTF8 }
        var index = bytes.startIndex
        // Allowed once, at the very start: `<?xml` followed by white space.
        if bytes.starts(with: Array("<?xml".utf8)), bytes.count > 5,
            [0x20, 0x09, 0x0A, 0x0D].contains(bytes[bytes.startIndex + 5])
        {
            index = bytes.startIndex + 5
        }
        while index < bytes.endIndex - 1 {
            if bytes[index] == 0x3C {  // "<"
                let next = bytes[index + 1]
                if next == 0x3F { return .processingInstruction }  // "<?"
                if next == 0x21, matchesCaseInsensitive(bytes, at: index + 2, "DOCTYPE") { return .doctype }
            }
            index += 1
        }
        return nil
    }

    private static func matchesCaseInsensitive(_ bytes: ArraySlice<UInt8>, at start: Int, _ word: String) -> Bool {
        let letters = Array(word.utf8)
        guard start + letters.count <= bytes.endIndex else { return false }
        return zip(letters, bytes[start..<(start + letters.count)]).allSatisfy { $0 == ($1 & 0xDF) }
    }
}
