import CancelQueue
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// One connection to the queue's database, opened on first use and again after it dropped, with
/// a growing pause between failed attempts (0.5 s doubling to 5 s) so that a server that is down
/// is not hammered. Errors come out as `StoreError`: `.unavailable` for what waiting can cure.
/// Used by one task at a time, like a SQLite connection.
/// `package`: the copy from SQLite (CancelCopy) writes through it too.
package final class PostgresSession: @unchecked Sendable {
    let location: PostgresLocation
    let logger: Logger
    private var connection: PostgresConnection?
    private var nextAttempt = ContinuousClock.now
    private var backoff = 0.0
    private static let ids = IDSource()
    /// Whether a transaction is open on the current connection (BEGIN sent, no COMMIT yet).
    /// Set only by the transaction functions (PostgresSession+Transaction.swift) and `drop`.
    var inTransaction = false
    /// The connection was lost while a transaction was open: everything it wrote is gone, and a
    /// COMMIT must not report success until the transaction is rolled back or a new one begins.
    var transactionLost = false
    /// The server process of the current connection, identified by pid and start time (a pid alone
    /// may be reused by another process).
    struct Backend: Sendable, Equatable {
        let pid: Int
        let start: String
    }
    private(set) var backend: Backend?
    /// How long one statement may go unanswered before the connection is given up: a server that
    /// stopped answering or a half-open connection after a network cut would otherwise hold the
    /// caller forever (TCP gives up after many minutes). nil for commands an operator watches.
    let statementDeadline: Duration?

    init(location: PostgresLocation, logger: Logger, statementDeadline: Duration? = nil) {
        self.location = location
        self.logger = logger
        self.statementDeadline = statementDeadline
    }

    deinit {
        // postgres-nio insists on a close before a connection goes; the task keeps it until then.
        if let connection { Task { try? await connection.close() } }
    }

    /// The open connection, connecting when there is none.
    func connected() async throws(StoreError) -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        if connection != nil {
            connection = nil
            // Closed between two statements of a transaction (the server ended it, a reset): the
            // transaction is gone, and a new connection must not run the rest of it in autocommit.
            if inTransaction {
                inTransaction = false
                transactionLost = true
                throw .unavailable(location: location.description, reason: Self.lostTransaction)
            }
        }
        // Monotonic: a wall clock stepped back must not hold the reconnection for as long.
        let now = ContinuousClock.now
        guard now >= nextAttempt else {
            let wait = now.duration(to: nextAttempt)
            throw .unavailable(
                location: location.description,
                reason: "not connected; next attempt in \(String(format: "%.1f", Double(wait.components.attoseconds) / 1e18 + Double(wait.components.seconds))) s")
        }
        do {
            let opened = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: try configuration(),
                id: Self.ids.next(), logger: logger)
            connection = opened
            backoff = 0
            backend = nil
            do {
                // Which server process serves this connection: after a COMMIT without answer, that
                // process may still commit, and must be seen gone before its outcome is read.
                let rows = try await opened.query("SELECT pg_backend_pid(), backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()", logger: logger)
                for try await row in rows {
                    let cells = row.makeRandomAccess()
                    backend = Backend(pid: try cells[0].decode(Int.self), start: try cells[1].decode(String.self))
                }
                try await Self.settleSearchPath(on: opened, location: location, logger: logger)
            } catch {
                drop()
                throw storeError(error)
            }
            return opened
        } catch {
            backoff = min(max(backoff * 2, 0.5), 5)
            nextAttempt = .now + .nanoseconds(Int64(backoff * 1e9))
            throw storeError(error)
        }
    }

    /// Runs one statement; returns its rows. A dropped connection is forgotten, so the next call
    /// reconnects (any open transaction is gone with it).
    @discardableResult
    package func rows(_ query: PostgresQuery) async throws(StoreError) -> [PostgresRandomAccessRow] {
        // The rest of a transaction whose connection was lost never runs outside it.
        guard !transactionLost else { throw .unavailable(location: location.description, reason: Self.lostTransaction) }
        let connection = try await connected()
        let watchdog = statementDeadline.map { StatementWatchdog(closing: connection, after: $0) }
        defer { watchdog?.disarm() }
        do {
            var rows: [PostgresRandomAccessRow] = []
            for try await row in try await connection.query(query, logger: logger) {
                rows.append(row.makeRandomAccess())
            }
            return rows
        } catch {
            var mapped = storeError(error)
            if let watchdog, watchdog.fired, let deadline = statementDeadline {
                mapped = .unavailable(
                    location: location.description,
                    reason: "no answer to a statement within \(deadline); the connection was closed and will be opened again")
            }
            if case .unavailable = mapped { drop() }
            throw mapped
        }
    }

    func drop() {
        let closing = connection
        connection = nil
        if inTransaction { transactionLost = true }
        inTransaction = false
        if let closing { Task { try? await closing.close() } }
    }

    func close() async {
        let closing = connection
        connection = nil
        inTransaction = false
        try? await closing?.close()
    }

    /// postgres-nio's configuration for `location`: TLS as libpq's sslmode says.
    func configuration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch location.sslMode {
        case .disable:
            tls = .disable
        case .allow, .prefer:
            tls = .prefer(try Self.context(verify: .none, roots: nil))
        case .require:
            // libpq: with a root certificate given, require verifies like verify-ca.
            tls = .require(try Self.context(verify: location.sslRootCert == nil ? .none : .noHostnameVerification, roots: location.sslRootCert))
        case .verifyCA:
            tls = .require(try Self.context(verify: .noHostnameVerification, roots: location.sslRootCert))
        case .verifyFull:
            tls = .require(try Self.context(verify: .fullVerification, roots: location.sslRootCert))
        }
        var configuration: PostgresConnection.Configuration
        if let directory = location.socketDirectory {
            configuration = .init(
                unixSocketPath: directory + "/.s.PGSQL.\(location.port)", username: location.user,
                password: location.password, database: location.database)
        } else {
            configuration = .init(
                host: location.host, port: location.port, username: location.user, password: location.password,
                database: location.database, tls: tls)
            configuration.options.tlsServerName = location.host
        }
        configuration.options.connectTimeout = .seconds(Int64(location.connectTimeoutSeconds))
        configuration.options.additionalStartupParameters = [("application_name", location.applicationName)]
        return configuration
    }

    private static func context(verify: CertificateVerification, roots: String?) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = verify
        if let roots {
            guard FileManager.default.isReadableFile(atPath: roots) else {
                throw StoreError.unavailable(location: "sslrootcert \(roots)", reason: "the file does not exist or cannot be read")
            }
            tls.trustRoots = .file(roots)
        }
        return try NIOSSLContext(configuration: tls)
    }

    /// What an error of postgres-nio (or of the network under it) means for the operator.
    func storeError(_ error: any Error) -> StoreError {
        let here = location.description
        if let error = error as? StoreError { return error }
        guard let error = error as? PSQLError else {
            return .unavailable(location: here, reason: PostgresLocation.redacted("\(error)"))
        }
        if let info = error.serverInfo {
            let state = info[.sqlState] ?? ""
            let message = info[.message] ?? "error \(state)"
            // 08: connection exception; 57P0x: the server is shutting down or starting up; 53300: full;
            // 40P01, 40001: a deadlock or serialization failure rolled the transaction back: try again.
            // 53100: the server's disk is full; nothing was written, and the same write succeeds once
            // space is freed: answers are kept meanwhile, as through an outage.
            if state == "53100" { return .unavailable(location: here, reason: "\(StoreError.serverDiskFull) (\(message))") }
            if state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300" || state == "40P01" || state == "40001" {
                return .unavailable(location: here, reason: message)
            }
            if state == "28P01" || state == "28000" { return .authenticationFailed(location: here, reason: message) }
            return .server(location: here, message: message, constraint: info[.constraintName], sqlState: state)
        }
        switch error.code {
        case .authMechanismRequiresPassword:
            return .authenticationFailed(location: here, reason: "the server asks for a password and none was given")
        case .sslUnsupported:
            return .unavailable(location: here, reason: "the server does not offer TLS, which sslmode=\(location.sslMode.rawValue) requires")
        default:
            let underlying = error.underlying.map { ": \(PostgresLocation.redacted("\($0)"))" } ?? ""
            return .unavailable(location: here, reason: "\(error.code)\(underlying)")
        }
    }
}

/// Closes a connection whose statement has not been answered by its deadline: the statement then
/// fails (and the session reconnects) instead of waiting on a server or a network that went silent.
/// A timer on the connection's own event loop: cheap enough for every statement.
private final class StatementWatchdog: Sendable {
    private final class State: Sendable {
        let value = Mutex((armed: true, fired: false))
    }

    private let timer: Scheduled<Void>
    private let state = State()

    init(closing connection: PostgresConnection, after deadline: Duration) {
        let state = state
        timer = connection.eventLoop.scheduleTask(in: TimeAmount(deadline)) {
            let fire = state.value.withLock { state in
                guard state.armed else { return false }
                state.fired = true
                return true
            }
            if fire { connection.close().whenComplete { _ in } }
        }
    }

    var fired: Bool { state.value.withLock { $0.fired } }

    func disarm() {
        state.value.withLock { $0.armed = false }
        timer.cancel()
    }
}

/// Connection ids for postgres-nio's log metadata.
private final class IDSource: @unchecked Sendable {
    private let lock = NSLock()
    private var last = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        last += 1
        return last
    }
}
