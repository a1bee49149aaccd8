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
    /// How long a connection attempt may take (libpq's `connect_timeout`, whole seconds).
    public var connectTimeoutSeconds: Int
    public static let defaultConnectTimeoutSeconds = 5
    /// A connection attempt never waits longer than a statement may (`daemonStatementDeadline`).
    public static let connectTimeoutRange = 1...10
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
        connectTimeoutSeconds = Self.defaultConnectTimeoutSeconds
        // What the messages below show: every password hidden, however its option was spelt.
        let shown = Self.redacted(components)
        var seen: Set<String> = []
        // What the URL's authority and path already say counts as given once (a `?user=` silently
        // replaced the user before the @).
        if components.percentEncodedPassword != nil { seen.insert("password") }
        if components.percentEncodedUser.map({ !$0.isEmpty }) == true { seen.insert("user") }
        if components.percentEncodedHost.map({ !$0.isEmpty }) == true { seen.insert("host") }
        if components.port != nil { seen.insert("port") }
        if path.count > 1 { seen.insert("dbname") }
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            // A repeated option is ambiguous (which sslmode, which password?): refused, not "the last wins".
            guard seen.insert(item.name.lowercased()).inserted else {
                throw .malformed(shown, item.name.lowercased() == "password" ? "a password is given twice" : "\(item.name) is given twice")
            }
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw .malformed(
                        shown,
                        "sslmode=\(value) is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "sslrootcert": sslRootCert = value
            case "host":
                if value.hasPrefix("/") { socketDirectory = value } else { host = value }
            case "port":
                guard let number = Int(value) else { throw .malformed(shown, "port=\(value) is not a number") }
                port = number
            case "user": user = value
            case "dbname": database = value
            case "application_name": applicationName = value
            case "password": password = value
            case "connect_timeout":
                guard let seconds = Int(value), Self.connectTimeoutRange.contains(seconds) else {
                    throw .malformed(
                        shown,
                        "connect_timeout=\(value) is not whole seconds from \(Self.connectTimeoutRange.lowerBound) to \(Self.connectTimeoutRange.upperBound) (cancelq never waits longer for a connection than for a statement)")
                }
                connectTimeoutSeconds = seconds
            case "options":
                // It sets server settings for the session: a search_path there would point cancelq's
                // table names at other tables.
                throw .malformed(
                    shown, "options= is refused: cancelq sets its session's settings itself; give the role its search_path with ALTER ROLE … SET search_path")
            case "target_session_attrs":
                throw .malformed(
                    shown, "target_session_attrs is refused: cancelq connects to the one host in the URL and needs it writable; name the primary (or a proxy that always routes to it)")
            default:
                throw .malformed(shown, "unknown option \(item.name) (cancelq understands sslmode, sslrootcert, host, port, user, dbname, application_name, password, connect_timeout)")
            }
        }
        if host.isEmpty && socketDirectory == nil { host = "localhost" }
        if database.isEmpty { database = user }
        guard (1...65535).contains(port) else { throw .malformed(shown, "port \(port) is out of range") }
        guard !user.isEmpty else { throw .malformed(shown, "no user name") }
        if sslRootCert != nil, sslMode != .verifyCA && sslMode != .verifyFull && sslMode != .require {
            throw .malformed(shown, "sslrootcert needs sslmode=verify-full (or verify-ca)")
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

    /// A parsed URL as text with its passwords replaced: the user part's, and the value of every
    /// query option whose decoded name is `password` (`pass%77ord=` too).
    static func redacted(_ components: URLComponents) -> String {
        var shown = components
        if shown.percentEncodedPassword != nil { shown.percentEncodedPassword = "***" }
        shown.percentEncodedQueryItems = components.percentEncodedQueryItems?.map { item in
            let name = item.name.removingPercentEncoding ?? item.name
            return name.lowercased() == "password" ? URLQueryItem(name: item.name, value: "***") : item
        }
        return redacted(shown.string ?? "")
    }

    /// Any text that may hold a `scheme://user:password@` URL or a `password=` option, with the
    /// password replaced: every occurrence, not only the first.
    public static func redacted(_ text: String) -> String {
        var text = text
        // Searched from an offset: indices do not survive the replacement.
        var searchFrom = 0
        while let option = text.range(of: "password=", options: .caseInsensitive, range: text.index(text.startIndex, offsetBy: searchFrom)..<text.endIndex) {
            let end = text[option.upperBound...].firstIndex(where: { $0 == "&" || $0 == " " || $0 == "#" }) ?? text.endIndex
            let valueStart = text.distance(from: text.startIndex, to: option.upperBound)
            text.replaceSubrange(option.upperBound..<end, with: "***")
            searchFrom = valueStart + 3
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
