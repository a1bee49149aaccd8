import NIOCore

/// `--metrics-listen HOST:PORT`: an IP address (or `localhost`) and a port. Loopback only unless
/// remote access is allowed: the numbers are not secret, but a scrape reads the queue.
public struct MetricsListenAddress: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public enum Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        case malformed(String)
        case notLoopback(String)

        public var description: String {
            switch self {
            case .malformed(let text):
                "--metrics-listen \(text): expected HOST:PORT with an IP address and a port from 0 to 65535, as 127.0.0.1:9464 or [::1]:9464"
            case .notLoopback(let text):
                "--metrics-listen \(text) is not a loopback address: metrics and health would be open to the network; use 127.0.0.1 and a reverse proxy, or add --metrics-allow-remote"
            }
        }
    }

    public init(parsing text: String, allowRemote: Bool) throws(Invalid) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port)
        else { throw .malformed(text) }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw .malformed(text)  // an IPv6 address needs brackets: [::1]:9464
        }
        if host == "localhost" { host = "127.0.0.1" }
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: host, port: port)
        } catch {
            throw .malformed(text)
        }
        guard allowRemote || Self.isLoopback(address) else { throw .notLoopback(text) }
        self.host = host
        self.port = port
    }

    static func isLoopback(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4):
            // 127.0.0.0/8, in network byte order.
            return UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 24 == 127
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            let loopback = bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
            let mappedV4 = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
            return loopback || mappedV4
        case .unixDomainSocket:
            return false
        }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
