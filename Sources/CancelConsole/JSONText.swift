import Foundation

/// `--json` output safe for a terminal: JSONEncoder escapes only U+0000–U+001F, so a stored string
/// with DEL, a C1 control (U+009B is a CSI), a bidirectional override or a line separator would
/// reach the terminal raw. The same characters `LogText.escaped` escapes become `\uXXXX` here, which
/// a JSON reader decodes back to the same value.
public enum JSONText {
    public static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return escapingControls(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Escapes every control, format or separator character but the newlines between lines (inside
    /// a JSON string a newline is already `\n`, so a raw one is layout).
    public static func escapingControls(_ json: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            guard scalar != "\n", needsEscape(scalar) else {
                out.append(scalar)
                continue
            }
            for unit in String(scalar).utf16 {
                let hex = String(unit, radix: 16, uppercase: true)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
            }
        }
        return String(out)
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse: true
        default: false
        }
    }
}
