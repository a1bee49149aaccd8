/// PostgreSQL's text form of an array with NULLs in it (`{"a",NULL,"b"}`), bound as one text
/// parameter and cast in SQL (`$7::text[]`): postgres-nio encodes arrays of values, not of
/// optionals, and a turn's writes carry NULLs in most columns.
enum PostgresArrayLiteral {
    static func of(_ values: [String?]) -> String {
        "{" + values.map { $0.map(quoted) ?? "NULL" }.joined(separator: ",") + "}"
    }

    /// Doubles in Swift's shortest form that reads back to the same bits (`float8in` is exact).
    static func of(_ values: [Double?]) -> String {
        "{" + values.map { $0.map { "\($0)" } ?? "NULL" }.joined(separator: ",") + "}"
    }

    static func of(_ values: [Int?]) -> String {
        "{" + values.map { $0.map(String.init) ?? "NULL" }.joined(separator: ",") + "}"
    }

    /// Inside double quotes only `"` and `\` are special; braces, commas, spaces and the word
    /// NULL are then plain text. Escaped scalar by scalar, never by `Character`: a grapheme
    /// cluster can hide a quote or a backslash behind a prepended mark (`"\u{D4E}\""` is one
    /// Character), and a gateway's answer could then move the elements after it.
    static func quoted(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        out.append("\"")
        for scalar in text.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { out.append("\\") }
            out.append(scalar)
        }
        out.append("\"")
        return String(out)
    }
}
