import TestSupport
import Testing

/// The test parser must refuse what Prometheus refuses, or the scrape tests prove nothing.
@Suite("Prometheus exposition parser (TestSupport)")
struct ExpositionParserTests {
    @Test("a well-formed exposition parses, escapes and histograms included")
    func parsesValid() throws {
        let text = """
            # HELP a_total Help with \\\\ and \\n.
            # TYPE a_total counter
            a_total{x="q\\"uote",y="back\\\\slash\\nline"} 3
            a_total 1 1700000000000
            # TYPE h histogram
            h_bucket{le="0.5"} 1
            h_bucket{le="+Inf"} 2
            h_sum 0.7
            h_count 2
            g NaN

            """
        let parsed = try PrometheusExposition(parsing: text)
        #expect(parsed.value("a_total", ["x": "q\"uote", "y": "back\\slash\nline"]) == 3)
        #expect(parsed.families["a_total"]?.help == "Help with \\ and \n.")
        #expect(parsed.value("h_count") == 2 && parsed.families["h"]?.type == "histogram")
        #expect(parsed.value("g")?.isNaN == true)
    }

    @Test("malformed expositions are refused", arguments: [
        "a 1",  // no final newline
        "1a 1\n", "a{1x=\"v\"} 1\n", "a{x=v} 1\n", "a{x=\"v} 1\n", "a{x=\"\\q\"} 1\n", "a{x=\"v\",x=\"w\"} 1\n", "a{__x=\"v\"} 1\n",
        "a one\n", "a 1 2 3\n", "a 1 1.5\n", "a{x=\"v\"\n",
        "a 1\nb 1\na 2\n",  // a family in two groups
        "a 1\na 2\n",  // duplicate series
        "a 1\n# TYPE a gauge\n",  // TYPE after samples
        "# TYPE a gauge\n# TYPE a gauge\na 1\n", "# TYPE a wibble\na 1\n",
        "# TYPE c counter\nc -1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",  // decreasing
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",  // count differs
    ])
    func refusesMalformed(text: String) {
        #expect(throws: PrometheusExposition.Malformed.self) { try PrometheusExposition(parsing: text) }
    }
}
