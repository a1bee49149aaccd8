import Foundation
import Testing
import TestSupport

@testable import CancelPostgres

/// The text form of a turn's nullable columns, read back by PostgreSQL itself: every element
/// arrives as it was, whatever a gateway put in its answer.
@Suite("PostgreSQL: array literals", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresArrayLiteralTests {
    /// Quotes, backslashes, braces, commas, the word NULL, the empty string, newlines, non-ASCII,
    /// and a prepended mark (U+0D4E, U+0600) before a quote or a backslash: Swift joins those into
    /// one Character, which once hid the quote from the escaping and moved every element after it.
    static let hostile: [String?] = [
        "A\u{D4E}\\", nil, nil, ",X,Y,B\u{D4E}\\", "A\u{D4E}\",NULL,Z\u{D4E}\\", "\u{600}\"", "\u{600}\\n",
        "\"", "\\", "{", "}", ",", "NULL", "null", "", " ", "a\nb", "é", "👍🏽", "\"}\",{\"", String(repeating: "x\\\"", count: 300),
    ]

    @Test("hostile text and NULLs come back element for element, in order")
    func textRoundTrips() async throws {
        try await PostgresTestDatabase.with { database in
            let literal = PostgresArrayLiteral.of(Self.hostile)
            #expect(!literal.contains("$cq$"))
            let json = try database.psql("SELECT to_json($cq$\(literal)$cq$::text[])")
            let back = try JSONDecoder().decode([String?].self, from: Data(json.utf8))
            #expect(back == Self.hostile)
        }
    }

    @Test("doubles read back to the same bits, NULLs included")
    func doublesRoundTrip() async throws {
        try await PostgresTestDatabase.with { database in
            let values: [Double?] = [0, -0.0, 1e-300, 5e-324, 1.797_693_134_862_315_7e308, 1_796_644_306.484_841_3, nil, 1e16, -42.5]
            let literal = PostgresArrayLiteral.of(values)
            let text = try database.psql("SELECT array_to_string(array(SELECT coalesce(float8send(v)::text, 'null') FROM unnest('\(literal)'::float8[]) AS v), ' ')")
            let expected = values.map { value in
                value.map { "\\x" + String(format: "%016llx", $0.bitPattern) } ?? "null"
            }.joined(separator: " ")
            #expect(text == expected)
        }
    }
}
