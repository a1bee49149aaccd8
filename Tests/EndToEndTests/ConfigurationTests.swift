import Foundation
import Testing
import TestSupport

/// `cancelq run` refuses a bad configuration with one clear line, before touching the database.
@Suite("cancelq run refuses bad configuration")
struct ConfigurationTests {
    static let cases: [(name: String, arguments: [String], keyContent: String?, message: String)] = [
        ("short client IP", ["--client-ip", "1234"], "demo-key", "--client-ip refused"),
        ("non-digit client IP", ["--client-ip", "12a45"], "demo-key", "--client-ip refused"),
        ("missing key file", ["--key-file", "/nonexistent/zeus-key"], nil, "key file /nonexistent/zeus-key: does not exist"),
        ("empty key file", [], "", "is empty"),
        ("key over 40", [], String(repeating: "k", count: 41), "holds 41 bytes; a ZEUS key has at most 40"),
        ("key with a space", [], "has space", "authentication key has a character at position 4"),
        ("delay below 5 s", ["--delay", "4"], "demo-key", "--delay must be a number of seconds from 5 to 31536000 (got 4.0)"),
        ("infinite delay", ["--delay", "inf"], "demo-key", "--delay must be a number of seconds from 5 to 31536000 (got inf)"),
        ("NaN delay", ["--delay", "nan"], "demo-key", "--delay must be a number of seconds from 5 to 31536000 (got nan)"),
        ("absurd request timeout", ["--request-timeout", "1e10"], "demo-key", "--request-timeout must be a number of seconds from 0.001 to 86400"),
        ("infinite poll interval", ["--poll-interval", "inf"], "demo-key", "--poll-interval must be a number of seconds"),
        ("absurd retry max", ["--retry-max", "1e300"], "demo-key", "--retry-max must be a number of seconds"),
        ("huge concurrency", ["--concurrency", "100000"], "demo-key", "--concurrency must be a whole number from 1 to 1024"),
        ("plain http to a remote host", ["--endpoint", "http://example.com/api"], "demo-key", "would send the key unencrypted"),
        ("zero concurrency", ["--concurrency", "0"], "demo-key", "--concurrency must be a whole number from 1 to 1024 (got 0)"),
        ("negative request timeout", ["--request-timeout=-1"], "demo-key", "--request-timeout must be a number of seconds from 0.001 to 86400 (got -1.0)"),
        ("zero max attempts", ["--max-attempts", "0"], "demo-key", "--max-attempts must be a whole number from 1 to 1000 (got 0)"),
        ("unknown log level", ["--log-level", "loud"], "demo-key", "unknown log level loud"),
    ]

    @Test("each bad configuration is refused with its message", arguments: 0..<cases.count)
    func refused(_ index: Int) async throws {
        let testCase = Self.cases[index]
        try await withTemporaryDirectory { dir in
            let keyPath = dir + "/zeus-key"
            if let content = testCase.keyContent {
                try Data(content.utf8).write(to: URL(fileURLWithPath: keyPath))
            }
            let arguments = [
                "run", "--db", dir + "/queue.db", "--endpoint", "http://127.0.0.1:9/api", "--client-ip", "12345",
                "--key-file", keyPath,
            ] + testCase.arguments
            let result = try await runCancelq(arguments)
            #expect(result.status != 0, "\(testCase.name): accepted")
            #expect(result.stderr.contains(testCase.message), "\(testCase.name): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count <= 3, "\(testCase.name): not one clear line: \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/queue.db"), "\(testCase.name): touched the database")
            if let content = testCase.keyContent, content.count > 3 {
                #expect(!result.output.contains(content), "\(testCase.name): the key was printed")
            }
        }
    }

    @Test("no key at all names the three ways to give one")
    func noKey() async throws {
        try await withTemporaryDirectory { dir in
            let result = try await runCancelq(["run", "--db", dir + "/q.db", "--client-ip", "12345"])
            #expect(result.status != 0)
            #expect(result.stderr.contains("pass --key-file PATH, set CANCELQ_KEY_FILE, or run under systemd"))
        }
    }

    @Test("a key file readable by others is accepted with a warning")
    func worldReadableKeyWarns() async throws {
        try await withTemporaryDirectory { dir in
            let keyPath = dir + "/zeus-key"
            try Data("demo-key\n".utf8).write(to: URL(fileURLWithPath: keyPath))
            chmod(keyPath, 0o644)
            let result = try await runCancelq(
                ["run", "--db", dir + "/q.db", "--endpoint", "http://127.0.0.1:9/api", "--client-ip", "12345",
                 "--key-file", keyPath, "--exit-when-idle"],
                environment: [:])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stderr.contains("is readable by group or others (mode 644); run chmod 600"))
        }
    }

    @Test("the environment variables configure run like the options")
    func environmentVariables() async throws {
        try await withTemporaryDirectory { dir in
            let keyPath = dir + "/zeus-key"
            try Data("demo-key".utf8).write(to: URL(fileURLWithPath: keyPath))
            chmod(keyPath, 0o600)
            let bad = try await runCancelq(["run"], environment: [
                "CANCELQ_DB": dir + "/q.db", "CANCELQ_ENDPOINT": "http://127.0.0.1:9/api", "CANCELQ_CLIENT_IP": "12345",
                "CANCELQ_KEY_FILE": keyPath, "CANCELQ_DELAY": "3",
            ])
            #expect(bad.stderr.contains("CANCELQ_DELAY (--delay) must be a number of seconds from 5 to 31536000 (got 3.0)"))
            let infinite = try await runCancelq(["run"], environment: [
                "CANCELQ_DB": dir + "/q.db", "CANCELQ_ENDPOINT": "http://127.0.0.1:9/api", "CANCELQ_CLIENT_IP": "12345",
                "CANCELQ_KEY_FILE": keyPath, "CANCELQ_REQUEST_TIMEOUT": "inf",
            ])
            #expect(infinite.stderr.contains("CANCELQ_REQUEST_TIMEOUT (--request-timeout) must be a number of seconds"))
            let credentials = try await runCancelq(["run", "--exit-when-idle"], environment: [
                "CANCELQ_DB": dir + "/q.db", "CANCELQ_ENDPOINT": "http://127.0.0.1:9/api", "CANCELQ_CLIENT_IP": "12345",
                "CREDENTIALS_DIRECTORY": dir, "CANCELQ_CONCURRENCY": "2",
            ])
            // The systemd credential path is $CREDENTIALS_DIRECTORY/zeus-key, which exists here.
            #expect(credentials.status == 0, "\(credentials.output)")
        }
    }
}
