/// Every metric cancelq exports: its name, help and labels, written once. The README's Monitoring
/// table, the alert rules and the dashboard name these; a test compares them with a real scrape.
public enum MetricCatalog {
    public struct Metric: Sendable, Hashable {
        public let name: String
        public let help: String
    }

    public static let jobs = Metric(name: "cancelq_jobs", help: "Jobs per state, read from the queue at scrape time.")
    public static let requests = Metric(
        name: "cancelq_requests_total",
        help: "Answers received from the gateway, by result status and code (codes outside the code table are counted as other).")
    public static let transportFailures = Metric(
        name: "cancelq_transport_failures_total", help: "Requests that got no usable answer, by kind of failure.")
    public static let requestDuration = Metric(
        name: "cancelq_request_duration_seconds", help: "Time from a request leaving to its answer or failure.")
    public static let sendingMode = Metric(
        name: "cancelq_sending_mode", help: "1 for the current sending mode of the queue, 0 for the others.")
    public static let inFlight = Metric(name: "cancelq_in_flight", help: "Requests of this daemon on their way now.")
    public static let oldestUnfinishedAge = Metric(
        name: "cancelq_oldest_unfinished_age_seconds", help: "Age of the oldest job not yet final; 0 when there is none.")
    public static let nextDueOverdue = Metric(
        name: "cancelq_next_due_overdue_seconds", help: "How late the earliest due job is; grows when the daemon is stopped or stuck.")
    public static let lastSuccess = Metric(
        name: "cancelq_last_success_timestamp_seconds", help: "When a job last became succeeded (unix seconds); 0 when none has.")
    public static let outcomes = Metric(
        name: "cancelq_outcomes_total", help: "Jobs this daemon finished, by outcome.")
    public static let sendingSince = Metric(
        name: "cancelq_sending_mode_since_timestamp_seconds",
        help: "Since when sending has been paused, halted or held (unix seconds); 0 while open.")
    public static let healthy = Metric(
        name: "cancelq_healthy", help: "1 when `cancelq status --check` would say OK (and /healthz answers 200), else 0.")
    public static let storeReadable = Metric(
        name: "cancelq_store_read_ok", help: "1 when the last scrape could read the queue, else 0 (the store gauges are then stale).")

    public static let daemonInfo = Metric(
        name: "cancelq_daemon_info",
        help: "PostgreSQL: each daemon registered on the shared queue, 1 while it heartbeats, 0 once it stopped without leaving (killed, crashed, cut off).")
    public static let rescuedJobs = Metric(
        name: "cancelq_rescued_jobs_total",
        help: "Jobs found in flight with their outcome unknown and sent again: left by this daemon's previous run (a crash, a kill) or by a daemon of the shared queue that stopped heartbeating.")

    public static let startTime = Metric(
        name: "cancelq_start_time_seconds", help: "When this daemon started (unix seconds): its counters count from then.")

    public static let all: [Metric] = [
        jobs, requests, transportFailures, requestDuration, sendingMode, inFlight, oldestUnfinishedAge, nextDueOverdue,
        lastSuccess, outcomes, sendingSince, healthy, storeReadable, daemonInfo, rescuedJobs, startTime,
    ]

    /// Exported only by a daemon on a PostgreSQL queue (a SQLite queue has one daemon).
    public static let sharedQueueOnly: Set<String> = [daemonInfo.name]

    static let helpByName: [String: String] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.help) })

    /// Request durations: ZEUS answers in tens of milliseconds to a few seconds; the request
    /// timeout defaults to 30 s.
    static let durationBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]
}
