import Foundation

/// Splits a migration into its statements: postgres-nio sends one statement per query (the
/// extended protocol). Semicolons inside quotes, dollar-quoted bodies and comments do not split.
enum SQLScript {
    static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var index = script.startIndex
        func starts(_ prefix: String) -> Bool { script[index...].hasPrefix(prefix) }
        while index < script.endIndex {
            let character = script[index]
            if starts("--") {
                // A comment runs to the end of the line; it is dropped.
                index = script[index...].firstIndex(of: "\n") ?? script.endIndex
                continue
            }
            if character == "'" || character == "\"" {
                let end = script[script.index(after: index)...].firstIndex(of: character).map { script.index(after: $0) } ?? script.endIndex
                current += script[index..<end]
                index = end
                continue
            }
            if character == "$", let tagEnd = script[script.index(after: index)...].firstIndex(of: "$"),
                script[script.index(after: index)..<tagEnd].allSatisfy({ $0.isLetter || $0 == "_" })
            {
                let tag = String(script[index...tagEnd])
                let bodyStart = script.index(after: tagEnd)
                let end = script[bodyStart...].range(of: tag)?.upperBound ?? script.endIndex
                current += script[index..<end]
                index = end
                continue
            }
            if character == ";" {
                let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !statement.isEmpty { statements.append(statement) }
                current = ""
            } else {
                current.append(character)
            }
            index = script.index(after: index)
        }
        let last = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !last.isEmpty { statements.append(last) }
        return statements
    }
}
