import Foundation

/// Where a PostgreSQL queue lives: `postgresql://user@host:port/db?sslmode=…` (or `postgres://`),
/// with libpq's URI options that matter here. The password is kept apart and never printed:
/// `description` is the URL without it.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    /// A directory holding the server's socket (`host=/var/run/postgresql`), instead of TCP.
    public var socketDirectory: String?
    public var user: String
    public var database: String
    public var sslMode: SSLMode
    /// Certificate authorities for `verify-ca`/`verify-full` (libpq's `sslrootcert`).
    public var sslRootCert: String?
    public var applicationName: String
    /// Set from the URL, a password file, the systemd credential or PGPASSWORD (see `cancelq`).
    public var password: String?

    /// Whether `--db` names a PostgreSQL database rather than a SQLite file.
    public static func isURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgresql://") || lower.hasPrefix("postgres://")
    }

    public init(url text: String, defaultUser: String) throws(PostgresLocationError) {
        guard Self.isURL(text), let components = URLComponents(string: text) else {
            throw .malformed(
                Self.redacted(text),
                "expected postgresql://user@host:port/database (percent-encode / ? # @ : in a password, or give it with --db-password-file)")
        }
        user = components.percentEncodedUser.flatMap { $0.removingPercentEncoding } ?? defaultUser
        password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        host = components.percentEncodedHost.flatMap { $0.removingPercentEncoding } ?? ""
        // An IPv6 literal: [::1] in the URL, ::1 to connect to.
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        port = components.port ?? 5432
        let path = components.percentEncodedPath.removingPercentEncoding ?? ""
        database = path.hasPrefix("/") ? String(path.dropFirst()) : path
        sslMode = .prefer
        applicationName = "cancelq"
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw .malformed(
                        Self.redacted(text),
                        "sslmode=\(value) is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "sslrootcert": sslRootCert = value
            case "host":
                if value.hasPrefix("/") { socketDirectory = value } else { host = value }
            case "port":
                guard let number = Int(value) else { throw .malformed(Self.redacted(text), "port=\(value) is not a number") }
                port = number
            case "user": user = value
            case "dbname": database = value
            case "application_name": applicationName = value
            case "password": password = value
            case "connect_timeout", "target_session_attrs", "options":
                // Understood by libpq; cancelq has its own timeouts and always wants a writable primary.
                continue
            default:
                throw .malformed(Self.redacted(text), "unknown option \(item.name) (cancelq understands sslmode, sslrootcert, host, port, user, dbname, application_name, password)")
            }
        }
        if host.isEmpty && socketDirectory == nil { host = "localhost" }
        if database.isEmpty { database = user }
        guard (1...65535).contains(port) else { throw .malformed(Self.redacted(text), "port \(port) is out of range") }
        guard !user.isEmpty else { throw .malformed(Self.redacted(text), "no user name") }
        if sslRootCert != nil, sslMode != .verifyCA && sslMode != .verifyFull && sslMode != .require {
            throw .malformed(Self.redacted(text), "sslrootcert needs sslmode=verify-full (or verify-ca)")
        }
    }

    /// The URL as given, minus the password: what every message shows.
    public var description: String {
        var text = "postgresql://\(user)@"
        if let socketDirectory {
            text += "/\(database)?host=\(socketDirectory)"
            if port != 5432 { text += "&port=\(port)" }
        } else {
            text += (host.contains(":") ? "[\(host)]" : host) + ":\(port)/\(database)"
        }
        if sslMode != .prefer { text += (text.contains("?") ? "&" : "?") + "sslmode=\(sslMode.rawValue)" }
        return text
    }

    /// Any text that may hold a `scheme://user:password@` URL or a `password=` option, with the
    /// password replaced.
    public static func redacted(_ text: String) -> String {
        var text = text
        while let option = text.range(of: "password=", options: .caseInsensitive),
            !text[option.upperBound...].hasPrefix("***")
        {
            let end = text[option.upperBound...].firstIndex(where: { $0 == "&" || $0 == " " || $0 == "#" }) ?? text.endIndex
            text.replaceSubrange(option.upperBound..<end, with: "***")
        }
        guard let scheme = text.range(of: "://") else { return text }
        // Up to the last `@` of the URL, not the first `/`: a password typed with `/`, `?` or `#`
        // in it (unencoded, so the URL is malformed) must not show either. Hiding a little more
        // than the password, when an option's value holds an `@`, is the safe side.
        let rest = text[scheme.upperBound...]
        let urlEnd = rest.firstIndex(where: \.isWhitespace) ?? rest.endIndex
        guard let at = rest[..<urlEnd].lastIndex(of: "@"),
            let colon = rest[..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}

public enum PostgresLocationError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String, String)

    public var description: String {
        switch self {
        case .malformed(let url, let problem): "cannot use --db \(url): \(problem)"
        }
    }
}
