import ArgumentParser
import CancelBench

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput, cost per job, idle cost and writer contention (prints numbers).",
        subcommands: [Drain.self, Idle.self, Contention.self, Postgres.self, Writer.self],
        defaultSubcommand: Drain.self)

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drain N queued jobs through `cancelq run` against the simulator.")
        @Option(help: "Jobs to drain.") var jobs = 10_000
        @Option(help: "Requests in flight.") var concurrency = 16
        @Option(name: .customLong("latency-ms"), help: "Simulator answer delay.") var latencyMilliseconds = 0.0
        @Option(help: "Finished jobs (with 3 attempts each) already in the table.") var existing = 0
        @Option(help: ArgumentHelp(
            "A gateway in another process instead of the in-process simulator (bench/nginx-success.conf answers success at once).",
            valueName: "url"))
        var endpoint: String?
        @Flag(help: "Run the daemon with --metrics-listen and scrape /metrics every second meanwhile.") var metrics = false

        func run() async throws {
            try await Benchmarks.drain(
                jobs: jobs, concurrency: concurrency, latency: latencyMilliseconds / 1000, existing: existing, endpoint: endpoint,
                scrapeEvery: metrics ? 1 : nil, out: { emit($0) })
        }
    }

    struct Idle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An idle daemon's CPU and RSS, then due→sent latency.")
        @Option(help: "Seconds to watch the idle daemon.") var seconds = 15.0
        @Option(help: "Jobs that then become due one by one.") var trickle = 100

        func run() async throws {
            try await Benchmarks.idle(seconds: seconds, trickle: trickle, out: { emit($0) })
        }
    }

    struct Contention: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Writer processes inserting while the daemon drains.")
        @Option(help: "Backlog the daemon drains meanwhile.") var jobs = 10_000
        @Option(help: "Writer processes.") var writers = 4
        @Option(help: "Inserts per writer.") var inserts = 1500

        func run() async throws {
            try await Benchmarks.contention(jobs: jobs, writers: writers, inserts: inserts, out: { emit($0) })
        }
    }

    struct Postgres: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drain N jobs with one or several daemons sharing a PostgreSQL queue, then time inserts picked up by NOTIFY.",
            discussion: "--db must be an empty database that `cancelq migrate` prepared; the benchmark fills it.")
        @OptionGroup var database: DatabaseOption
        @Option(help: "Jobs to drain.") var jobs = 10_000
        @Option(help: "Daemons sharing the queue.") var daemons = 1
        @Option(help: "Requests in flight per daemon.") var concurrency = 16
        @Option(help: "Inserts, one at a time, for the pickup latency.") var pickups = 100
        @Option(help: ArgumentHelp(
            "A gateway in another process instead of the in-process simulator, for the drain and the pickup "
                + "(bench/nginx-success.conf answers success at once).",
            valueName: "url"))
        var endpoint: String?

        func run() async throws {
            guard case .postgres(let location) = try database.target() else {
                throw CommandFailure("bench postgres needs --db postgresql://…")
            }
            try await Benchmarks.postgres(
                url: try database.resolved(), location: location, jobs: jobs, daemons: daemons, concurrency: concurrency, pickups: pickups,
                endpoint: endpoint, out: { emit($0) })
        }
    }

    struct Writer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One writer of `bench contention` (internal).", shouldDisplay: false)
        @Option var db: String
        @Option var inserts: Int
        @Option var prefix: String

        func run() throws {
            try Benchmarks.writer(database: db, inserts: inserts, prefix: prefix, out: { emit($0) })
        }
    }
}
