import CancelCore
import CancelQueue
import Foundation
import Logging
import PostgresNIO

/// The queue in PostgreSQL: the same contract as the SQLite store (`QueueStore`), shared by
/// applications on many hosts and by several daemons. What several daemons need on top:
///
/// - claims lock their rows (`FOR UPDATE SKIP LOCKED`) from the read to the commit that makes them
///   `sent` with this daemon as `owner`, so no order is in flight in two daemons;
/// - the gate is shared: a claim is refused in the commit when the stored gate forbids it, and only
///   one daemon holds the maintenance probe (`sending_gate.probe_owner`);
/// - each daemon heartbeats; the jobs of one whose lease ran out are rescued by any live one.
///
/// Due times and leases are on the server's clock (`clock`). Used by one task at a time.
public final class PostgresQueue: @unchecked Sendable {
    public let locationURL: PostgresLocation
    /// This daemon's name in `cancelq_daemons` and in `owner` (`--node-name`).
    public let node: String
    package let session: PostgresSession
    let logger: Logger
    public let clock: ServerClock
    let changes = ChangeFlag()
    public internal(set) var writeTransactions = 0
    /// Set by `join`: how long the others wait before rescuing this daemon's jobs.
    var leaseSeconds: Double
    /// When this daemon last pruned the rows of long-lost daemons (server clock).
    var lastPrune = 0.0
    /// This daemon's last heartbeat, and from when it may rescue other daemons' jobs (server clock).
    var lastBeatAt: Double?
    var rescuesAllowedFrom = Double.infinity
    let rescueSettling: Double
    /// A commit whose COMMIT got no answer (the connection dropped): whether it happened is read
    /// back from `cancelq_daemons.last_commit` before anything else is written.
    /// The token, and what that commit reported (claims it refused, rows it found changed): if it
    /// happened, the loop must get the same report, or it would send a claim that never committed.
    var uncertainCommit: UncertainCommit?
    /// The running turn's number: its handle works only inside it, and a turn does not nest.
    var openTurn: Int?
    var turnsBegun = 0
    /// The last claims found the gate neither open nor shut (a probe to decide): the next claims
    /// read it under its exclusive lock from the start, since a shared lock is never upgraded.
    var gateNeedsExclusiveLock = false

    /// How long a daemon may miss heartbeats before its jobs are rescued, beyond its request timeout.
    public static let leaseMargin = 10.0
    public static let heartbeatSeconds = 2.0
    /// After its start or its own silence, how long a daemon beats before it rescues others' jobs:
    /// the longest reconnection pause (5 s), a connection, and a few heartbeats of theirs.
    public static let defaultRescueSettling = 12.0

    /// How long a daemon (and its metrics) waits for one statement before it gives the connection
    /// up and reconnects: well inside the lease, so a silent server or network is noticed, logged
    /// and retried long before other daemons could take this one for dead.
    public static let daemonStatementDeadline = Duration.seconds(10)

    /// `rescueSettling`: how long this daemon beats, after its start or a gap in its heartbeats,
    /// before it may rescue other daemons' jobs.
    public init(
        location: PostgresLocation, node: String, requestTimeout: Double = 30, logger: Logger, statementDeadline: Duration? = nil,
        rescueSettling: Double = PostgresQueue.defaultRescueSettling
    ) {
        self.locationURL = location
        self.node = node
        self.logger = logger
        self.rescueSettling = rescueSettling
        session = PostgresSession(location: location, logger: logger, statementDeadline: statementDeadline)
        clock = ServerClock()
        leaseSeconds = requestTimeout + Self.leaseMargin
    }

    /// Connects and checks the schema: migrated by this binary's migrations, not newer.
    public static func open(
        location: PostgresLocation, node: String = PostgresQueue.defaultNodeName(), requestTimeout: Double = 30,
        logger: Logger = Logger(label: "cancelq.postgres"), statementDeadline: Duration? = nil
    ) async throws(StoreError) -> PostgresQueue {
        let queue = PostgresQueue(
            location: location, node: node, requestTimeout: requestTimeout, logger: logger, statementDeadline: statementDeadline)
        do {
            try await queue.requireMigrated()
            try await queue.clock.synchronise(with: queue.session)
        } catch {
            await queue.close()
            throw error
        }
        return queue
    }

    /// Host name and pid: unique unless two daemons are given the same `--node-name`.
    public static func defaultNodeName() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())"
    }

    public func close() async { await session.close() }

    /// Runs one SQL statement and returns the first column of its rows as text: for benchmarks
    /// and tools that seed or inspect a queue, never for the daemon's own work.
    public func sqlColumn(_ sql: String) async throws(StoreError) -> [String?] {
        try await session.rows(PostgresQuery(unsafeSQL: sql)).map { row throws(StoreError) in
            // By the column's type: a binary integer would also "decode" as text, wrongly.
            let cell = row[0]
            guard cell.bytes != nil else { return nil }
            switch cell.dataType {
            case .int2, .int4, .int8: return (try? cell.decode(Int64.self)).map { String($0) }
            case .float4, .float8, .numeric: return (try? cell.decode(Double.self)).map { String($0) }
            case .bool: return (try? cell.decode(Bool.self)).map { String($0) }
            default: return try? cell.decode(String.self)
            }
        }
    }

    // MARK: reads of the run loop

    func jobs(where condition: String, _ binds: PostgresBindings = PostgresBindings(), lock: Bool) async throws(StoreError)
        -> [JobRecord]
    {
        if lock { try await session.begin() }
        let sql =
            "SELECT \(Self.jobColumns) FROM cancellations WHERE \(condition)"
            + (lock ? " FOR UPDATE OF cancellations SKIP LOCKED" : "")
        return try await session.rows(PostgresQuery(unsafeSQL: sql, binds: binds)).map { row throws(StoreError) in
            try row.jobRecord()
        }
    }

    public func job(orderNumber: String) async throws(StoreError) -> JobRecord? {
        var binds = PostgresBindings()
        binds.append(orderNumber)
        return try await jobs(where: "order_number = $1", binds, lock: false).first
    }

    // MARK: the gate

    /// The stored gate, its probe holder, the last approval, and the server's time of the read.
    package struct StoredGate {
        package var gate: SendingGate
        package var probeOwner: String?
        package var probeUntil: Double?
        package var approvedAt: Double?
        package var now: Double
    }

    /// `lock`: the gate stays as read until the commit. `shared`: other daemons' claims may read
    /// it at the same time; an exclusive lock (an operator's or a daemon's change of the gate)
    /// waits for them and is not overtaken by claims that come after it: an advisory lock, whose
    /// queue is fair, is taken before the row's, which alone would let a stream of shared lockers
    /// keep a change of the gate (a halt, a pause) waiting while their claims go out.
    package func readGate(lock: Bool, shared: Bool = false) async throws(StoreError) -> StoredGate {
        let advisory = shared ? "pg_advisory_xact_lock_shared" : "pg_advisory_xact_lock"
        // An uncorrelated sub-select runs once, before the row is read and locked.
        let locking = lock ? " AND (SELECT true FROM \(advisory)('sending_gate'::regclass::oid::bigint))" + (shared ? " FOR SHARE" : " FOR UPDATE") : ""
        let rows = try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(GateRow.columns), probe_owner, probe_until, approved_at, cancelq_now()
                    FROM sending_gate WHERE id = 1\(locking)
                    """))
        guard let row = rows.first else {
            // Only the daemon's role may delete it; treat as open, the next save puts it back.
            return StoredGate(gate: .open, now: clock.now())
        }
        let stored = GateRow(
            mode: try row.value(0), pausedUntil: try row.value(1), maintenanceStreak: try row.value(2), reason: try row.value(3),
            code: try row.value(4), since: try row.value(5), holdEnqueued: try row.value(6), holdAbove: try row.value(7),
            holdWindow: try row.value(8), holdCountedFrom: try row.value(9))
        return StoredGate(
            gate: try stored.gate(), probeOwner: try row.value(10), probeUntil: try row.value(11), approvedAt: try row.value(12),
            now: try row.value(13))
    }

    /// Saves `gate`; the probe holder stays only while the gate is unchanged, `approved_at` always.
    func writeGate(_ gate: SendingGate, now: Double) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(GateRow(gate))
        binds.append(now)
        let columns = GateRow.columns.split(separator: ", ").map(String.init) + ["updated_at"]
        let sameGate = "g.mode = EXCLUDED.mode AND g.paused_until IS NOT DISTINCT FROM EXCLUDED.paused_until"
        // The row may have been deleted: an UPDATE of nothing would drop a halt silently.
        try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO sending_gate AS g (id, \(columns.joined(separator: ", ")))
                    VALUES (1, \(columns.indices.map { "$\($0 + 1)" }.joined(separator: ", ")))
                    ON CONFLICT (id) DO UPDATE SET \(columns.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")),
                        probe_owner = CASE WHEN \(sameGate) THEN g.probe_owner END,
                        probe_job = CASE WHEN \(sameGate) THEN g.probe_job END,
                        probe_until = CASE WHEN \(sameGate) THEN g.probe_until END
                    """, binds: binds))
    }
}

extension PostgresBindings {
    /// The gate's columns, in `GateRow.columns` order.
    package mutating func append(_ row: GateRow) {
        append(row.mode)
        append(row.pausedUntil)
        append(row.maintenanceStreak)
        append(row.reason)
        append(row.code)
        append(row.since)
        append(row.holdEnqueued)
        append(row.holdAbove)
        append(row.holdWindow)
        append(row.holdCountedFrom)
    }
}

/// The server's clock as seen from here: the server's time read at each heartbeat, carried
/// forward on this host's monotonic clock. A host whose wall clock is wrong, or is stepped while
/// the daemon runs (an hour back, say), neither sends early nor late, nor judges leases wrongly:
/// its wall clock is not read at all once the first reading is in.
public final class ServerClock: @unchecked Sendable {
    private let lock = NSLock()
    /// The server's time at a monotonic instant (the middle of the query that read it).
    private var anchor: (server: Double, at: ContinuousClock.Instant)?

    public func now() -> Double {
        lock.lock()
        defer { lock.unlock() }
        guard let anchor else { return QueueClock.now() }
        let elapsed = ContinuousClock.now - anchor.at
        return anchor.server + Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    func synchronise(with session: PostgresSession) async throws(StoreError) {
        let before = ContinuousClock.now
        let rows = try await session.rows("SELECT cancelq_now()")
        let after = ContinuousClock.now
        guard let server: Double = try rows.first?.value(0) else { return }
        let middle = before + (after - before) / 2
        lock.withLock { anchor = (server, middle) }
    }
}

/// Set when a NOTIFY arrived; the loop's change detector reads and clears it.
final class ChangeFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false

    func raise() {
        lock.lock()
        raised = true
        lock.unlock()
    }

    func take() -> Bool {
        lock.lock()
        defer {
            raised = false
            lock.unlock()
        }
        return raised
    }
}
