import Foundation

/// The key travels in the request body: only over TLS, except to this machine (the simulator).
enum EndpointCheck {
    static func validated(_ endpoint: String) throws(ConfigurationError) -> String {
        // Checked on the raw text first: a URL that fails to parse must not echo a password either.
        if let authority = endpoint.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first,
            authority.contains("@")
        {
            throw .endpoint(
                "the endpoint carries a user or password (user:password@host); the gateway authenticates with the key, "
                    + "so give the URL without them (it is not shown here to keep the password out of logs)")
        }
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty
        else {
            throw .endpoint("\(endpoint) is not an absolute URL like https://host/path")
        }
        if let port = url.port, !(1...65535).contains(port) {
            throw .endpoint("port \(port) is not a TCP port (1 to 65535)")
        }
        switch scheme {
        case "https":
            return endpoint
        case "http":
            guard isLoopback(host) else {
                throw .endpoint(
                    "plain http to \(host) would send the key unencrypted; use https:// "
                        + "(plain http is allowed only to loopback, for the simulator)")
            }
            return endpoint
        default:
            throw .endpoint("scheme \(scheme) is not supported; use https://")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if bare == "localhost" || bare == "::1" { return true }
        let parts = bare.split(separator: ".")
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
