import CancelCore
import Foundation
import Testing
import TestSupport

@testable import CancelDaemon

@Suite("Key file and endpoint")
struct ConfigurationCheckTests {
    func write(_ text: String, mode: mode_t = 0o600, in dir: String) throws -> String {
        let path = dir + "/key"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode)
        return path
    }

    @Test("one trailing line end is not part of the key; the key is never in a message")
    func keyFile() async throws {
        try await withTemporaryDirectory { dir in
            #expect(try KeyFile.load(path: try write("secret-1\n", in: dir)).key.secret == "secret-1")
            #expect(try KeyFile.load(path: try write("secret-2\r\n", in: dir)).key.secret == "secret-2")
            #expect(try KeyFile.load(path: try write("secret-3", in: dir)).warning == nil)
            let shared = try KeyFile.load(path: try write("secret-4", mode: 0o640, in: dir))
            #expect(shared.warning?.contains("readable by group or others (mode 640)") == true)
            #expect(throws: ConfigurationError.keyFile(path: dir + "/missing", problem: "does not exist")) {
                try KeyFile.load(path: dir + "/missing")
            }
            #expect(throws: ConfigurationError.keyFile(path: dir, problem: "is not a regular file")) { try KeyFile.load(path: dir) }
            #expect(throws: ConfigurationError.keyFile(path: dir + "/key", problem: "is empty")) {
                try KeyFile.load(path: try write("\n", in: dir))
            }
            let spaced = #expect(throws: ConfigurationError.self) { try KeyFile.load(path: try write("SECRET with space", in: dir)) }
            #expect(spaced.map { !"\($0)".contains("SECRET") } == true)
        }
    }

    @Test("https anywhere; plain http only to loopback")
    func endpoints() throws {
        #expect(try EndpointCheck.validated("https://linkpt.cardservice.co.jp/cgi-bin/secure/api.cgi").hasPrefix("https"))
        for loopback in ["http://127.0.0.1:8080/api", "http://localhost/api", "http://[::1]:9/api", "http://127.1.2.3/x"] {
            #expect(throws: Never.self) { try EndpointCheck.validated(loopback) }
        }
        for refused in ["http://example.com/api", "http://10.0.0.1/api", "ftp://127.0.0.1/", "not a url", "http:///nohost",
                        "http://127.0.0.1:99999/x", "https://host:0/api"] {
            #expect(throws: ConfigurationError.self) { try EndpointCheck.validated(refused) }
        }
        for withCredentials in ["https://user:S3CRET@linkpt.example/api", "https://S3CRET@host/api", "http://u:S3CRET@127.0.0.1:9/x",
                                "https://u:S3CRET@[bad/api"] {
            let error = #expect(throws: ConfigurationError.self) { try EndpointCheck.validated(withCredentials) }
            #expect(error.map { "\($0)".contains("user or password") && !"\($0)".contains("S3CRET") } == true, "\(String(describing: error))")
        }
    }
}
