import CancelCore
import CancelMetrics
import NIOSSL
import ZeusAPI

/// Everything `cancelq run` needs, already validated.
public struct DaemonConfiguration: Sendable {
    public var databasePath: String
    public var endpoint: String
    public var clientIP: ClientIPCode
    public var key: AuthKey
    public var policy: RetryPolicy
    /// The whole request, connect to last byte.
    public var requestTimeout: Double
    /// How long after its claim a request may still be written: the request timeout.
    var sendWindow: Duration { .nanoseconds(Int64(requestTimeout * 1e9)) }
    /// Certificate authorities trusted besides the system's (`--ca-file`); certificates and host
    /// names are verified either way.
    public var additionalTrustRoots: [NIOSSLCertificate]
    public var concurrency: Int
    /// Longest time between two full scans for new rows; commits by other processes are noticed
    /// sooner through SQLite's `data_version`.
    public var pollInterval: Double
    public var exitWhenIdle: Bool
    public var busyTimeout: Double
    /// Most jobs written in one transaction (group commit).
    public var batchLimit: Int
    /// The surge hold: sending stops when more jobs were enqueued in the window than this allows.
    public var surgeLimit: SurgeLimit
    /// Where `/metrics` and `/healthz` are served; nil (the default) serves nothing and counts nothing.
    public var metricsListen: MetricsListenAddress?

    /// The defaults of `cancelq run`, written once: the options and their help read them from here
    /// (and the retry numbers from `RetryPolicy.standard`).
    public enum Defaults {
        public static let requestTimeout = 30.0
        public static let concurrency = 4
        public static let pollInterval = 1.0
        public static let busyTimeout = 5.0
        public static let batchLimit = 256
        /// A shop cancels a handful of orders an hour; a thousand in an hour is a bug or a decision.
        public static let holdAbove = 1000
        public static let holdWindow = 3600.0
        /// Off unless `--metrics-listen` is given. 9464 is the port the README suggests (the
        /// OpenTelemetry Prometheus exporter's, free on most hosts).
        public static let metricsListen: MetricsListenAddress? = nil
        public static let suggestedMetricsListen = "127.0.0.1:9464"
    }

    public init(
        databasePath: String, endpoint: String = ZeusLimits.productionEndpoint, clientIP: ClientIPCode, key: AuthKey,
        policy: RetryPolicy = .standard, requestTimeout: Double = Defaults.requestTimeout,
        additionalTrustRoots: [NIOSSLCertificate] = [], concurrency: Int = Defaults.concurrency,
        pollInterval: Double = Defaults.pollInterval, exitWhenIdle: Bool = false, busyTimeout: Double = Defaults.busyTimeout,
        batchLimit: Int = Defaults.batchLimit,
        surgeLimit: SurgeLimit = SurgeLimit(holdAbove: Defaults.holdAbove, window: Defaults.holdWindow),
        metricsListen: MetricsListenAddress? = Defaults.metricsListen
    ) throws(ConfigurationError) {
        try ConfigurationError.requirePositive("--request-timeout", requestTimeout)
        try ConfigurationError.requirePositive("--poll-interval", pollInterval)
        try ConfigurationError.requirePositive("--concurrency", Double(concurrency))
        try ConfigurationError.requirePositive("busy timeout", busyTimeout)
        try ConfigurationError.requirePositive("batch limit", Double(batchLimit))
        try ConfigurationError.requirePositive("--hold-window", surgeLimit.window)
        self.databasePath = databasePath
        self.endpoint = try EndpointCheck.validated(endpoint)
        self.clientIP = clientIP
        self.key = key
        self.policy = policy
        self.requestTimeout = requestTimeout
        self.additionalTrustRoots = additionalTrustRoots
        self.concurrency = concurrency
        self.pollInterval = pollInterval
        self.exitWhenIdle = exitWhenIdle
        self.busyTimeout = busyTimeout
        self.batchLimit = batchLimit
        self.surgeLimit = surgeLimit
        self.metricsListen = metricsListen
    }
}

/// A configuration `cancelq run` refuses before doing anything. The text never contains the key.
public enum ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case notPositive(option: String, value: Double)
    case endpoint(String)
    case keyFile(path: String, problem: String)
    case caFile(path: String, problem: String)
    case noKey
    case clientIP(FieldError)
    case policy(RetryPolicy.Invalid)

    public var description: String {
        switch self {
        case .notPositive(let option, let value):
            "\(option) must be greater than 0 (got \(value))"
        case .endpoint(let why):
            "endpoint refused: \(why)"
        case .keyFile(let path, let problem):
            "key file \(path): \(problem)"
        case .caFile(let path, let problem):
            "--ca-file \(path): \(problem)"
        case .noKey:
            "no authentication key: pass --key-file PATH, set CANCELQ_KEY_FILE, or run under systemd with "
                + "LoadCredential=zeus-key:/etc/cancelq/zeus-key"
        case .clientIP(let error):
            "--client-ip refused: \(error) (the IP code ZEUS issued, 5 to 10 digits)"
        case .policy(let error):
            "\(error)"
        }
    }

    static func requirePositive(_ option: String, _ value: Double) throws(ConfigurationError) {
        guard value > 0, value.isFinite else { throw .notPositive(option: option, value: value) }
    }
}
