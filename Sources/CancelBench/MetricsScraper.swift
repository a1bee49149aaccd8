import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `bench drain --metrics`: scrapes the daemon's `/metrics` as Prometheus would, once the daemon
/// has logged its port and then every `interval` seconds, until stopped. Plain sockets, not
/// URLSession: FoundationNetworking needs libcurl, which the static binary does not link.
final class MetricsScraper: Sendable {
    private let task: Task<(scrapes: Int, failures: Int), Never>

    init(daemonLog: String, interval: Double) {
        task = Task.detached {
            var port: Int?
            var scrapes = 0
            var failures = 0
            while !Task.isCancelled {
                if port == nil, let log = try? String(contentsOfFile: daemonLog, encoding: .utf8),
                    let match = log.firstMatch(of: /serving http:\/\/127\.0\.0\.1:(\d+)\/metrics/)
                {
                    port = Int(match.1)
                }
                guard let port else {
                    try? await Task.sleep(nanoseconds: 5_000_000)
                    continue
                }
                if Self.get(port: port, path: "/metrics").hasPrefix("HTTP/1.1 200") { scrapes += 1 } else { failures += 1 }
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            }
            return (scrapes, failures)
        }
    }

    func stop() async -> (scrapes: Int, failures: Int) {
        task.cancel()
        return await task.value
    }

    /// One GET over a fresh loopback connection; the whole answer as text ("" on failure).
    static func get(port: Int, path: String) -> String {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return "" }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return "" }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return "" }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            answer += buffer[..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
