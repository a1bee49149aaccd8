import Foundation

/// A real PostgreSQL server from Debian's `postgresql` package, started for the tests in a
/// temporary directory on a free loopback port; as the `postgres` user when the tests run as root
/// (PostgreSQL refuses root). One server per test process, stopped and removed at exit; each test
/// takes a database of its own.
///
/// Without the package the PostgreSQL tests are skipped with `PostgresServer.skipNote`;
/// `CANCELQ_REQUIRE_POSTGRES=1` (what `.ci/run` sets) makes them run and fail instead.
public final class PostgresServer: @unchecked Sendable {
    public let port: Int
    public let directory: String
    let binaries: String
    /// A role that must log in with a password (scram-sha-256); every other role is trusted.
    public static let passwordRole = "cancelq_password"
    public static let password = "s3cret-pw-for-tests"

    /// The server binaries: $PG_BINDIR, else the newest /usr/lib/postgresql/*/bin.
    public static let binDirectory: String? = {
        if let given = ProcessInfo.processInfo.environment["PG_BINDIR"], !given.isEmpty { return given }
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "\(root)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }()

    public static var isRequired: Bool { ProcessInfo.processInfo.environment["CANCELQ_REQUIRE_POSTGRES"] == "1" }
    /// Whether the PostgreSQL tests run: the server is installed, or the run insists (then they fail).
    public static var shouldRun: Bool { binDirectory != nil || isRequired }
    public static let skipNote =
        "PostgreSQL tests skipped: no PostgreSQL server here. Install it (apt-get install postgresql) to run them; CANCELQ_REQUIRE_POSTGRES=1 turns this skip into a failure"

    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: Result<PostgresServer, TestFailure>?

    /// The server of this test process, started on first use.
    public static func shared() throws -> PostgresServer {
        lock.lock()
        defer { lock.unlock() }
        if let started { return try started.get() }
        do {
            let server = try PostgresServer()
            started = .success(server)
            atexit { PostgresServer.stopShared() }
            return server
        } catch let failure as TestFailure {
            started = .failure(failure)
            throw failure
        } catch {
            let failure = TestFailure("cannot start PostgreSQL: \(error)")
            started = .failure(failure)
            throw failure
        }
    }

    private static func stopShared() {
        guard case .success(let server) = started else { return }
        server.stop()
        try? FileManager.default.removeItem(atPath: server.directory)
    }

    private init() throws {
        guard let binaries = Self.binDirectory else { throw TestFailure(Self.skipNote) }
        self.binaries = binaries
        directory = makeTemporaryDirectory()
        // Taken from a socket bound to port 0: the kernel's choice of a free port, released just
        // before the server binds it.
        port = try HeldPort().port
        if Self.isRoot { _ = try runProgram("/bin/chown", ["-R", "postgres", directory]) }
        let data = directory + "/data"
        try run("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions"])
        try "".write(toFile: directory + "/server.log", atomically: false, encoding: .utf8)
        if Self.isRoot { _ = try runProgram("/bin/chown", ["-R", "postgres", directory]) }
        let hba = """
            local all all trust
            host all \(Self.passwordRole) 127.0.0.1/32 scram-sha-256
            host all all 127.0.0.1/32 trust
            """
        try hba.write(toFile: data + "/pg_hba.conf", atomically: false, encoding: .utf8)
        try start()
        try psql("postgres", "CREATE ROLE \(Self.passwordRole) LOGIN SUPERUSER PASSWORD '\(Self.password)'")
    }

    static var isRoot: Bool { geteuid() == 0 }

    /// The running postmaster: a child of the test process (pg_ctl would daemonize it, and
    /// Foundation's Process then never sees pg_ctl end).
    private var postmaster: Process?

    /// Starts (or restarts after `stop`) the server on the same port and data; returns once it
    /// accepts connections.
    public func start() throws {
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/server.log"))
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.isRoot ? "/usr/bin/setpriv" : binaries + "/postgres")
        let arguments = [
            "-D", directory + "/data", "-p", "\(port)", "-k", directory, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            "-c", "max_connections=200",
        ]
        process.arguments =
            Self.isRoot
            ? ["--reuid=postgres", "--regid=postgres", "--clear-groups", "--", binaries + "/postgres"] + arguments : arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        try process.run()
        try? log.close()
        postmaster = process
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if (try? psql("postgres", "SELECT 1")) != nil { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let printed = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
        throw TestFailure("PostgreSQL did not start on port \(port): \(printed.suffix(2000))")
    }

    /// Stops the server at once (connections are cut, as in a crash of the server), or with
    /// `fast` as `pg_ctl stop -m fast` does (sessions are told the server is shutting down).
    public func stop(fast: Bool = false) {
        guard let postmaster, postmaster.isRunning else { return }
        kill(postmaster.processIdentifier, fast ? SIGINT : SIGQUIT)
        postmaster.waitUntilExit()
        self.postmaster = nil
    }

    /// A fresh, empty database; returns its URL (trusted role `postgres`, no TLS).
    public func createDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try psql("postgres", "CREATE DATABASE \(name)")
        return url(database: name)
    }

    public func url(database: String, user: String = "postgres") -> String {
        "postgresql://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Runs SQL through psql as `postgres`; returns its output (unaligned, tuples only).
    @discardableResult
    public func psql(_ database: String, _ sql: String) throws -> String {
        let result = try runProgram(
            binaries + "/psql",
            ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database, "-c", sql])
        guard result.status == 0 else { throw TestFailure("psql failed: \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `psql` for the database in a URL made by `createDatabase`.
    @discardableResult
    public func psql(url: String, _ sql: String) throws -> String {
        try psql(Self.databaseName(url), sql)
    }

    public static func databaseName(_ url: String) -> String {
        let path = url.split(separator: "/").last.map(String.init) ?? ""
        return String(path.split(separator: "?").first ?? "")
    }

    /// Runs a server tool to its end, as `postgres` when root.
    private func run(_ tool: String, _ arguments: [String]) throws {
        let command = binaries + "/" + tool
        let result =
            Self.isRoot
            ? try runProgram(
                "/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--clear-groups", "--", command] + arguments,
                directory: directory)
            : try runProgram(command, arguments, directory: directory)
        guard result.status == 0 else { throw TestFailure("\(tool) failed (\(result.status)): \(result.output)") }
    }
}
