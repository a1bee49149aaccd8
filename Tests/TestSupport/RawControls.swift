/// What a terminal must never receive raw from cancelq's output: any byte below 0x20 except the
/// newline between lines, DEL, a C1 control (U+0080–U+009F), a bidirectional embedding, override
/// or isolate (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), a line or paragraph
/// separator. Returns each one found with its offset, for the failure message (empty: clean).
public func rawControls(in output: String) -> [String] {
    var found: [String] = []
    for (offset, scalar) in output.unicodeScalars.enumerated() {
        let value = scalar.value
        let bad =
            (value < 0x20 && scalar != "\n") || value == 0x7F || (0x80...0x9F).contains(value)
            || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
            || value == 0x200E || value == 0x200F || value == 0x061C || value == 0x2028 || value == 0x2029
        if bad { found.append("U+\(String(value, radix: 16, uppercase: true)) at \(offset)") }
    }
    return found
}

/// Text with every kind of character `rawControls` looks for, and a newline that tries to forge a
/// line of cancelq's own output after it.
public func hostileText(forging line: String) -> String {
    "x\u{1B}]0;owned\u{07}\u{1B}[2J\u{9B}31m\u{7F}\u{0}\r\u{202E}evil\u{2066}\u{2028}\u{85}\n\(line)"
}
