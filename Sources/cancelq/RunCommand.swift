import ArgumentParser
import CancelCore
import CancelDaemon
import CancelMetrics
import CancelPostgres
import CancelQueue
import Logging
import ServiceLifecycle
import ZeusAPI

/// The defaults shown in the help and used when an option is absent.
private let standard = RetryPolicy.standard

/// "10 s", "1800 s (30 min)": options take seconds, the help says so.
private func seconds(_ value: Double) -> String {
    let plain = value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    return value < 60 ? plain : "\(plain) (\(DurationText.describe(value)))"
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon: cancel every queued order at the ZEUS gateway.",
        discussion: """
            Refuses a bad configuration before touching anything. Stops cleanly on SIGTERM/SIGINT:
            no new request is sent, requests in flight finish (bounded by --request-timeout) and are
            recorded. Every option also reads the environment variable shown.
            """)

    @OptionGroup var database: DatabaseOption

    @Option(help: ArgumentHelp("Gateway URL; https:// only, except to loopback (env: CANCELQ_ENDPOINT). Default: the production endpoint.", valueName: "url"))
    var endpoint: String?

    @Option(name: .customLong("client-ip"), help: ArgumentHelp("The IP code ZEUS issued, 5 to 10 digits (env: CANCELQ_CLIENT_IP).", valueName: "digits"))
    var clientIP: String?

    @Option(name: .customLong("key-file"), help: ArgumentHelp("File holding the ZEUS key (env: CANCELQ_KEY_FILE; under systemd: the credential zeus-key).", valueName: "path"))
    var keyFile: String?

    @Option(help: ArgumentHelp("Seconds after the payment before cancelling, at least 5 (env: CANCELQ_DELAY). Default: \(seconds(standard.delayAfterPayment)).", valueName: "s"))
    var delay: Double?

    @Option(name: .customLong("max-attempts"), help: ArgumentHelp("Counted attempts before a job fails (env: CANCELQ_MAX_ATTEMPTS). Default: \(standard.maxAttempts).", valueName: "n"))
    var maxAttempts: Int?

    @Option(name: .customLong("retry-base"), help: ArgumentHelp("First retry delay, doubled each time (env: CANCELQ_RETRY_BASE). Default: \(seconds(standard.backoffBase)).", valueName: "s"))
    var retryBase: Double?

    @Option(name: .customLong("retry-max"), help: ArgumentHelp("Longest retry delay (env: CANCELQ_RETRY_MAX). Default: \(seconds(standard.backoffCap)).", valueName: "s"))
    var retryMax: Double?

    @Option(name: .customLong("maintenance-pause"), help: ArgumentHelp("Pause after a maintenance answer, doubled while it lasts up to \(seconds(standard.maintenancePauseCap)) (env: CANCELQ_MAINTENANCE_PAUSE). Default: \(seconds(standard.maintenancePause)).", valueName: "s"))
    var maintenancePause: Double?

    @Option(name: .customLong("request-timeout"), help: ArgumentHelp("One deadline for the whole request: connect (at most 10 s), send, and the full answer; then the outcome is unknown and the job is resent later (env: CANCELQ_REQUEST_TIMEOUT). Default: \(seconds(DaemonConfiguration.Defaults.requestTimeout)).", valueName: "s"))
    var requestTimeout: Double?

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("PEM file of certificate authorities to trust in addition to the system's: a private CA, a TLS-inspecting proxy, the simulator's test CA. Certificates and host names are always verified (env: CANCELQ_CA_FILE).", valueName: "pem"))
    var caFile: String?

    @Option(help: ArgumentHelp("Requests in flight at once (env: CANCELQ_CONCURRENCY). Default: \(DaemonConfiguration.Defaults.concurrency).", valueName: "n"))
    var concurrency: Int?

    @Option(name: .customLong("poll-interval"), help: ArgumentHelp("Longest time between full scans for new rows; inserts wake the daemon at once through inotify, or within 0.2 s without it (env: CANCELQ_POLL_INTERVAL). Default: \(seconds(DaemonConfiguration.Defaults.pollInterval)).", valueName: "s"))
    var pollInterval: Double?

    @Option(name: .customLong("hold-above"), help: ArgumentHelp("Hold sending for every job when more than this many jobs were enqueued within --hold-window, until `cancelq approve`; 0 turns the hold off (env: CANCELQ_HOLD_ABOVE). Default: \(DaemonConfiguration.Defaults.holdAbove).", valueName: "n"))
    var holdAbove: Int?

    @Option(name: .customLong("hold-window"), help: ArgumentHelp("The trailing window --hold-above counts in (env: CANCELQ_HOLD_WINDOW). Default: \(seconds(DaemonConfiguration.Defaults.holdWindow)).", valueName: "s"))
    var holdWindow: Double?

    @Flag(name: .customLong("exit-when-idle"), help: "Exit 0 once no job is left unfinished (env: CANCELQ_EXIT_WHEN_IDLE=1).")
    var exitWhenIdle = false

    @Option(name: .customLong("node-name"), help: ArgumentHelp("PostgreSQL: this daemon's name among those sharing the queue, in `status` and the audit trail (env: CANCELQ_NODE_NAME). Default: host name and pid.", valueName: "name"))
    var nodeName: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("trace, debug, info, notice, warning, error or critical (env: CANCELQ_LOG_LEVEL). Default: info.", valueName: "level"))
    var logLevel: String?

    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp("Serve Prometheus metrics at /metrics and the status --check verdict at /healthz on this loopback HOST:PORT, as \(DaemonConfiguration.Defaults.suggestedMetricsListen) (env: CANCELQ_METRICS_LISTEN). Default: off.", valueName: "host:port"))
    var metricsListen: String?

    @Flag(name: .customLong("metrics-allow-remote"), help: "Let --metrics-listen bind an address other than loopback (env: CANCELQ_METRICS_ALLOW_REMOTE=1).")
    var metricsAllowRemote = false

    func run() async throws {
        let factory = try QueueFactory(database)
        let level = try parseLogLevel(try option(logLevel, env: "CANCELQ_LOG_LEVEL") ?? "info")
        let configuration = try makeConfiguration(path: PostgresLocation.redacted(try database.resolved()))
        let node = try resolvedNodeName(shared: factory.isShared)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "cancelq")
        if let warning = configuration.keyWarning { logger.warning("\(warning)") }

        if let refusal = CoreDumps.disable() { logger.warning("could not disable core dumps: \(refusal)") }
        HeapTuning.keepFreedMemoryUpTo()
        let queue = try await factory.openForDaemon(
            node: node, busyTimeout: configuration.daemon.busyTimeout, requestTimeout: configuration.daemon.requestTimeout,
            logger: logger)
        if let sharing = queue.sharing { logger.info("\(sharing)") }
        // Listening before the daemon starts: a port in use is refused before any request leaves
        // (and before the HTTP client exists, which must be shut down once made).
        var server: MetricsServer?
        var exporter: MetricsExporter?
        var closeSource: () async -> Void = {}
        if let address = configuration.daemon.metricsListen {
            let (source, close) = queue.makeMonitoringSource()
            closeSource = close
            let made = MetricsExporter(source: source, logger: logger, clock: queue.clock)
            do {
                let started = try await MetricsServer.start(at: address, exporter: made)
                logger.notice("metrics: serving \(started.metricsURL) and /healthz")
                (server, exporter) = (started, made)
            } catch {
                await queue.close()
                throw error
            }
        }
        let transport = HTTPTransport(
            endpoint: configuration.daemon.endpoint, requestTimeout: configuration.daemon.requestTimeout,
            concurrency: configuration.daemon.concurrency,
            additionalTrustRoots: configuration.daemon.additionalTrustRoots)
        let daemon = CancellationDaemon(
            configuration: configuration.daemon, store: queue.store, transport: transport, logger: logger, storageGuard: queue.storageGuard,
            clock: queue.clock, metrics: exporter?.loop)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await server?.stop()
            await closeSource()
            throw error
        }
        await server?.stop()
        await closeSource()
        withExtendedLifetime(queue.keepAlive) {}
    }

    /// --node-name (PostgreSQL only): printable, without spaces, at most 100 bytes.
    func resolvedNodeName(shared: Bool) throws -> String {
        guard let given = try option(nodeName, env: "CANCELQ_NODE_NAME") else { return PostgresQueue.defaultNodeName() }
        guard shared else {
            throw CommandFailure("--node-name names a daemon among several sharing a PostgreSQL queue; a SQLite queue has one daemon")
        }
        guard (1...100).contains(given.utf8.count), given.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
            throw CommandFailure("--node-name must be 1 to 100 printable ASCII characters without spaces")
        }
        return given
    }

    struct Resolved {
        var daemon: DaemonConfiguration
        var keyWarning: String?
    }

    /// Every refusal happens here, before the database or the network is touched.
    func makeConfiguration(path: String) throws -> Resolved {
        guard let clientIPText = try option(clientIP, env: "CANCELQ_CLIENT_IP") else {
            throw CommandFailure("no client IP code: pass --client-ip DIGITS or set CANCELQ_CLIENT_IP")
        }
        let clientIPCode: ClientIPCode
        do {
            clientIPCode = try ClientIPCode(validating: clientIPText)
        } catch {
            throw ConfigurationError.clientIP(error)
        }
        let loaded = try KeyFile.load(path: try keyFilePath())
        let trustRoots = try option(caFile, env: "CANCELQ_CA_FILE").map { path throws(ConfigurationError) in
            try CAFile.load(path: path)
        } ?? []
        let policy: RetryPolicy
        do {
            let pause = try number(
                maintenancePause, env: "CANCELQ_MAINTENANCE_PAUSE", default: standard.maintenancePause, flag: "--maintenance-pause", within: Limits.day)
            policy = try RetryPolicy(
                delayAfterPayment: try number(delay, env: "CANCELQ_DELAY", default: standard.delayAfterPayment, flag: "--delay", within: Limits.delay),
                maxAttempts: try integer(
                    maxAttempts, env: "CANCELQ_MAX_ATTEMPTS", default: standard.maxAttempts, flag: "--max-attempts", within: Limits.attempts),
                backoffBase: try number(retryBase, env: "CANCELQ_RETRY_BASE", default: standard.backoffBase, flag: "--retry-base", within: Limits.day),
                backoffCap: try number(retryMax, env: "CANCELQ_RETRY_MAX", default: standard.backoffCap, flag: "--retry-max", within: Limits.day),
                maintenancePause: pause,
                maintenancePauseCap: max(standard.maintenancePauseCap, pause))
        } catch let error as RetryPolicy.Invalid {
            throw ConfigurationError.policy(error)
        }
        let allowRemote = try metricsAllowRemote || ["1", "true", "yes"].contains(environment("CANCELQ_METRICS_ALLOW_REMOTE") ?? "")
        let metricsAddress = try option(metricsListen, env: "CANCELQ_METRICS_LISTEN").map { text throws(MetricsListenAddress.Invalid) in
            try MetricsListenAddress(parsing: text, allowRemote: allowRemote)
        }
        let daemon = try DaemonConfiguration(
            databasePath: path,
            endpoint: try option(endpoint, env: "CANCELQ_ENDPOINT") ?? ZeusLimits.productionEndpoint,
            clientIP: clientIPCode, key: loaded.key, policy: policy,
            requestTimeout: try number(
                requestTimeout, env: "CANCELQ_REQUEST_TIMEOUT", default: DaemonConfiguration.Defaults.requestTimeout, flag: "--request-timeout", within: Limits.day),
            additionalTrustRoots: trustRoots,
            concurrency: try integer(
                concurrency, env: "CANCELQ_CONCURRENCY", default: DaemonConfiguration.Defaults.concurrency, flag: "--concurrency", within: Limits.concurrency),
            pollInterval: try number(
                pollInterval, env: "CANCELQ_POLL_INTERVAL", default: DaemonConfiguration.Defaults.pollInterval, flag: "--poll-interval", within: Limits.pollInterval),
            exitWhenIdle: exitWhenIdle || ["1", "true", "yes"].contains(try environment("CANCELQ_EXIT_WHEN_IDLE") ?? ""),
            surgeLimit: SurgeLimit(
                holdAbove: try integer(
                    holdAbove, env: "CANCELQ_HOLD_ABOVE", default: DaemonConfiguration.Defaults.holdAbove, flag: "--hold-above",
                    within: Limits.holdAbove),
                window: try number(
                    holdWindow, env: "CANCELQ_HOLD_WINDOW", default: DaemonConfiguration.Defaults.holdWindow, flag: "--hold-window",
                    within: Limits.holdWindow)),
            metricsListen: metricsAddress)
        return Resolved(daemon: daemon, keyWarning: loaded.warning)
    }

    /// --key-file, else CANCELQ_KEY_FILE, else the systemd credential `zeus-key`.
    func keyFilePath() throws -> String {
        if let path = try option(keyFile, env: "CANCELQ_KEY_FILE") { return path }
        if let directory = try environment("CREDENTIALS_DIRECTORY") { return directory + "/zeus-key" }
        throw ConfigurationError.noKey
    }
}

func parseLogLevel(_ text: String) throws -> Logger.Level {
    guard let level = Logger.Level(rawValue: text.lowercased()) else {
        throw CommandFailure("unknown log level \(text): use trace, debug, info, notice, warning, error or critical")
    }
    return level
}
