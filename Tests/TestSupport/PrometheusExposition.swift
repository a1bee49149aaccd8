/// A parser of the Prometheus text exposition format (version 0.0.4), strict enough to refuse
/// what Prometheus would refuse: bad names, unescaped or unterminated label values, a TYPE after
/// its samples or twice, a family split in two groups, duplicate series, a histogram without
/// `+Inf` or with decreasing buckets, a negative counter, a missing final newline.
public struct PrometheusExposition: Sendable {
    public struct Sample: Sendable, Equatable {
        public let name: String
        public let labels: [String: String]
        public let value: Double
    }

    public struct Family: Sendable {
        public let name: String
        public var type: String = "untyped"
        public var help: String?
        public var samples: [Sample] = []
    }

    public struct Malformed: Error, CustomStringConvertible {
        public let line: Int
        public let reason: String
        public var description: String { "exposition line \(line): \(reason)" }
    }

    public private(set) var families: [String: Family] = [:]

    /// The value of the one sample `name{labels}` (labels given must match all of the sample's).
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples(named: name).first { $0.labels == labels }?.value
    }

    public func samples(named name: String) -> [Sample] {
        families.values.flatMap(\.samples).filter { $0.name == name }
    }

    public init(parsing text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else { throw Malformed(line: 0, reason: "the last line does not end with a newline") }
        var finished: Set<String> = []
        var current: String?
        var seen: Set<String> = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let number = index + 1
            let line = String(raw)
            func fail(_ reason: String) -> Malformed { Malformed(line: number, reason: reason) }
            if line.trimmingSpaces.isEmpty { continue }
            if line.hasPrefix("#") {
                let words = line.dropFirst().trimmingSpaces.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
                guard words.count >= 2, words[0] == "HELP" || words[0] == "TYPE" else { continue }  // a plain comment
                let name = String(words[1])
                guard Self.isMetricName(name) else { throw fail("invalid metric name \(name)") }
                guard !finished.contains(name) else { throw fail("\(name) appears in two separate groups") }
                if current != name, let current { finished.insert(current) }
                current = name
                var family = families[name] ?? Family(name: name)
                if words[0] == "TYPE" {
                    let type = words.count > 2 ? String(words[2]) : ""
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(type) else { throw fail("unknown type \(type)") }
                    guard family.samples.isEmpty else { throw fail("TYPE of \(name) after its samples") }
                    guard !seen.contains("TYPE " + name) else { throw fail("second TYPE for \(name)") }
                    seen.insert("TYPE " + name)
                    family.type = type
                } else {
                    guard family.help == nil else { throw fail("second HELP for \(name)") }
                    family.help = words.count > 2 ? try Self.unescapeHelp(String(words[2]), fail) : ""
                }
                families[name] = family
                continue
            }
            let sample = try Self.parseSample(line, fail)
            let familyName = family(of: sample.name)
            guard !finished.contains(familyName) else { throw fail("\(familyName) appears in two separate groups") }
            if current != familyName, let current { finished.insert(current) }
            current = familyName
            var family = families[familyName] ?? Family(name: familyName)
            guard !family.samples.contains(where: { $0.name == sample.name && $0.labels == sample.labels }) else {
                throw fail("duplicate series \(sample.name)\(sample.labels.sorted { $0.key < $1.key })")
            }
            if family.type == "counter" {
                guard sample.name == familyName || sample.name == familyName + "_created" else { throw fail("counter sample \(sample.name)") }
                guard sample.value >= 0 || sample.value.isNaN else { throw fail("negative counter \(sample.name)") }
            }
            family.samples.append(sample)
            families[familyName] = family
        }
        for family in families.values where family.type == "histogram" { try Self.checkHistogram(family) }
    }

    /// `x_bucket`, `x_sum`, `x_count` belong to the histogram (or summary) `x` when one was declared.
    private func family(of sampleName: String) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where sampleName.hasSuffix(suffix) {
            let base = String(sampleName.dropLast(suffix.count))
            if let type = families[base]?.type, type == "histogram" || type == "summary" { return base }
        }
        return sampleName
    }

    private static func checkHistogram(_ family: Family) throws {
        func fail(_ reason: String) -> Malformed { Malformed(line: 0, reason: "histogram \(family.name): \(reason)") }
        var groups: [[String: String]: [(Double, Double)]] = [:]
        for sample in family.samples where sample.name == family.name + "_bucket" {
            guard let le = sample.labels["le"], let bound = parseValue(le) else { throw fail("bucket without a valid le") }
            groups[sample.labels.filter { $0.key != "le" }, default: []].append((bound, sample.value))
        }
        guard !groups.isEmpty else { throw fail("no buckets") }
        for (labels, buckets) in groups {
            let sorted = buckets.sorted { $0.0 < $1.0 }
            guard sorted.last?.0 == .infinity else { throw fail("no +Inf bucket") }
            for (a, b) in zip(sorted, sorted.dropFirst()) where b.1 < a.1 { throw fail("bucket counts decrease") }
            let count = family.samples.first { $0.name == family.name + "_count" && $0.labels == labels }
            guard let count, count.value == sorted.last?.1 else { throw fail("_count differs from the +Inf bucket") }
            guard family.samples.contains(where: { $0.name == family.name + "_sum" && $0.labels == labels }) else { throw fail("no _sum") }
        }
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" || first == ":" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" || $0 == ":" }
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_", !name.hasPrefix("__") else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" }
    }

    static func parseValue(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default:
            guard !text.isEmpty, text.unicodeScalars.allSatisfy({ $0.isASCIIDigit || "+-.eE".unicodeScalars.contains($0) }) else { return nil }
            return Double(text)
        }
    }

    private static func unescapeHelp(_ text: String, _ fail: (String) -> Malformed) throws -> String {
        var out = ""
        var escaping = false
        for character in text {
            if escaping {
                switch character {
                case "\\": out.append("\\")
                case "n": out.append("\n")
                default: out.append("\\"); out.append(character)  // HELP keeps unknown escapes as they are
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                out.append(character)
            }
        }
        guard !escaping else { throw fail("HELP ends in a lone backslash") }
        return out
    }

    private static func parseSample(_ line: String, _ fail: (String) -> Malformed) throws -> Sample {
        var scalars = Substring(line).unicodeScalars[...]
        var name = ""
        while let c = scalars.first, c != "{", c != " ", c != "\t" {
            name.unicodeScalars.append(c)
            scalars.removeFirst()
        }
        guard isMetricName(name) else { throw fail("invalid metric name \(name)") }
        var labels: [String: String] = [:]
        if scalars.first == "{" {
            scalars.removeFirst()
            while true {
                while scalars.first == " " { scalars.removeFirst() }
                if scalars.first == "}" { scalars.removeFirst(); break }
                var labelName = ""
                while let c = scalars.first, c != "=", c != " " {
                    labelName.unicodeScalars.append(c)
                    scalars.removeFirst()
                }
                guard isLabelName(labelName) else { throw fail("invalid label name \(labelName)") }
                guard scalars.first == "=" else { throw fail("no = after label \(labelName)") }
                scalars.removeFirst()
                guard scalars.first == "\"" else { throw fail("label value of \(labelName) not quoted") }
                scalars.removeFirst()
                var value = ""
                var closed = false
                while let c = scalars.first {
                    scalars.removeFirst()
                    if c == "\"" { closed = true; break }
                    if c == "\\" {
                        guard let next = scalars.first else { break }
                        scalars.removeFirst()
                        switch next {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw fail("invalid escape \\\(next) in label \(labelName)")
                        }
                    } else {
                        value.unicodeScalars.append(c)
                    }
                }
                guard closed else { throw fail("unterminated label value of \(labelName)") }
                guard labels.updateValue(value, forKey: labelName) == nil else { throw fail("label \(labelName) twice") }
                if scalars.first == "," { scalars.removeFirst(); continue }
                guard scalars.first == "}" else { throw fail("expected , or } after label \(labelName)") }
            }
        }
        let rest = String(String.UnicodeScalarView(scalars)).split(separator: " ", omittingEmptySubsequences: true)
        guard rest.count == 1 || rest.count == 2 else { throw fail("expected a value and at most a timestamp") }
        guard let value = parseValue(String(rest[0])) else { throw fail("invalid value \(rest[0])") }
        if rest.count == 2, Int64(rest[1]) == nil { throw fail("invalid timestamp \(rest[1])") }
        return Sample(name: name, labels: labels, value: value)
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: Substring {
        let trimmed = self.drop { $0 == " " || $0 == "\t" }
        return Substring(trimmed.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
