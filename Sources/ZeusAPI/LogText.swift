/// Text that came from outside (a gateway answer, an error body, a database row) made safe for one
/// log line: a newline in an answer must not forge a second journal line, and a control or
/// bidirectional-override character must not disguise what an operator reads.
public enum LogText {
    /// Escapes control, format and line-separator characters as `\n`, `\r`, `\t` or `\u{…}`, and
    /// cuts the text to `limit` characters, marking the cut.
    public static func escaped(_ text: some StringProtocol, limit: Int = 200) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                out += "…"
                break
            }
            count += 1
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default:
                switch scalar.properties.generalCategory {
                case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse:
                    out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                default:
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
