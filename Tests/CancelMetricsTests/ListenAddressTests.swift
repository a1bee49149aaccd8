import CancelMetrics
import Testing

@Suite("--metrics-listen address")
struct ListenAddressTests {
    @Test("loopback addresses are accepted, IPv4 and IPv6, localhost as 127.0.0.1", arguments: [
        ("127.0.0.1:9464", "127.0.0.1", 9464), ("127.8.9.10:0", "127.8.9.10", 0), ("[::1]:9464", "::1", 9464),
        ("localhost:9464", "127.0.0.1", 9464), ("[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80), ("127.0.0.1:65535", "127.0.0.1", 65535),
    ])
    func loopbackAccepted(text: String, host: String, port: Int) throws {
        let address = try MetricsListenAddress(parsing: text, allowRemote: false)
        #expect(address.host == host && address.port == port)
    }

    @Test("anything not loopback is refused without the flag, and accepted with it", arguments: [
        "0.0.0.0:9464", "10.0.0.1:9464", "128.0.0.1:9464", "[::]:9464", "[fe80::1]:9464", "[::ffff:10.0.0.1]:9464", "[::2]:1",
    ])
    func remoteNeedsTheFlag(text: String) throws {
        #expect(throws: MetricsListenAddress.Invalid.notLoopback(text)) { try MetricsListenAddress(parsing: text, allowRemote: false) }
        #expect(try MetricsListenAddress(parsing: text, allowRemote: true).description == text)
    }

    @Test("malformed addresses are refused with the expected form, even with the flag", arguments: [
        "", ":", "127.0.0.1", ":9464", "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:65536", "127.0.0.1:9464x", "::1:9464", "[::1]",
        "example.com:9464", "127.0.0.1 :9464", "[127.0.0.1]:9464x", "127.0.0.1:9464:1", "1.2.3:9464", "[::1:9464",
    ])
    func malformedRefused(text: String) {
        for allowRemote in [false, true] {
            #expect(throws: MetricsListenAddress.Invalid.malformed(text)) { try MetricsListenAddress(parsing: text, allowRemote: allowRemote) }
        }
        #expect(MetricsListenAddress.Invalid.malformed(text).description.contains("127.0.0.1:9464"))
    }
}
