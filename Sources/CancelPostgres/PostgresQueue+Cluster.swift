import CancelCore
import CancelQueue
import Foundation
import PostgresNIO

/// Several daemons on one queue: each is a row in `cancelq_daemons` with a heartbeat. One whose
/// heartbeat is older than its lease is dead: any live daemon rescues its jobs in flight, guarded
/// by state and owner, so a rescue never overwrites an answer that landed meanwhile (the answer
/// moved the job out of `sent`) nor a job another daemon claimed since (its owner changed).
extension PostgresQueue {
    /// `owner` is not a live daemon. The lease is each daemon's own (its request timeout + margin).
    static let ownerIsDead = """
        NOT EXISTS (SELECT 1 FROM cancelq_daemons d WHERE d.node = cancellations.owner
                    AND d.heartbeat_at >= cancelq_now() - d.lease_seconds)
        """

    public func join() async throws(StoreError) {
        try await clock.synchronise(with: session)
        try await forgetDeadDaemonsOfThisHost()
        var binds = PostgresBindings()
        binds.append(node)
        binds.append(ProcessInfo.processInfo.hostName)
        binds.append(Int(getpid()))
        binds.append(leaseSeconds)
        let taken = try await session.transaction { () async throws(StoreError) -> [PostgresRandomAccessRow] in
            let alive = try await session.rows(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT host, pid FROM cancelq_daemons WHERE node = $1
                        AND heartbeat_at >= cancelq_now() - lease_seconds FOR UPDATE
                        """, binds: binds))
            guard alive.isEmpty else { return alive }
            try await session.rows(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO cancelq_daemons (node, host, pid, started_at, heartbeat_at, lease_seconds, in_flight)
                        VALUES ($1, $2, $3, cancelq_now(), cancelq_now(), $4, 0)
                        ON CONFLICT (node) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid,
                            started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at,
                            lease_seconds = EXCLUDED.lease_seconds, in_flight = 0
                        """, binds: binds))
            return []
        }
        if let row = taken.first {
            let host: String = try row.value(0)
            let pid: Int = try row.value(1)
            // The same host: whether that process still lives is known here, without waiting out its lease.
            if host == ProcessInfo.processInfo.hostName, Self.processIsGone(pid) {
                var binds = PostgresBindings()
                binds.append(node)
                try await session.rows(PostgresQuery(unsafeSQL: "UPDATE cancelq_daemons SET heartbeat_at = 0 WHERE node = $1", binds: binds))
                return try await join()
            }
            throw .nodeNameTaken(node: node, host: host, pid: pid)
        }
        // Joining is this daemon's first heartbeat: rescues wait until the others have had time
        // to beat (they may have been silent together, through a database outage).
        lastBeatAt = clock.now()
        rescuesAllowedFrom = clock.now() + rescueSettling
    }

    public var heartbeatInterval: Double? { Self.heartbeatSeconds }

    public func beat(inFlight: Int) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(inFlight)
        binds.append(node)
        binds.append(leaseSeconds)
        binds.append(ProcessInfo.processInfo.hostName)
        binds.append(Int(getpid()))
        // The row may be gone (an operator removed a daemon he thought dead): put it back.
        try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO cancelq_daemons (node, host, pid, started_at, heartbeat_at, lease_seconds, in_flight)
                    VALUES ($2, $4, $5, cancelq_now(), cancelq_now(), $3, $1)
                    ON CONFLICT (node) DO UPDATE SET heartbeat_at = cancelq_now(), in_flight = $1
                    """, binds: binds))
        try await clock.synchronise(with: session)
        let beatAt = clock.now()
        if let previous = lastBeatAt, beatAt - previous <= Self.heartbeatSeconds * 2 + 1 {
            // Beating regularly: rescues stay allowed from when they were.
        } else {
            rescuesAllowedFrom = beatAt + rescueSettling
        }
        lastBeatAt = beatAt
        if clock.now() - lastPrune >= Self.pruneInterval {
            // Rows of daemons that stopped without leaving, a day after their lease ran out: by
            // then their jobs were rescued long ago and an alert on them has been seen.
            try await session.rows(
                PostgresQuery(unsafeSQL: "DELETE FROM cancelq_daemons WHERE heartbeat_at < cancelq_now() - lease_seconds - \(Self.lostDaemonKept)"))
            lastPrune = clock.now()
        }
    }

    /// How long the row of a daemon that stopped without leaving is kept once its lease ran out
    /// (it shows as `cancelq_daemon_info{node} 0`), and how often a live daemon prunes older ones.
    public static let lostDaemonKept = 86_400.0
    static let pruneInterval = 3_600.0

    /// Rows of this host whose lease ran out and whose process is gone: a restart under systemd
    /// with the default name (host and pid) would otherwise leave one lost row per crash. Rows of
    /// other hosts cannot be checked from here and are kept until pruned.
    private func forgetDeadDaemonsOfThisHost() async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(ProcessInfo.processInfo.hostName)
        let expired = try await session.rows(
            PostgresQuery(
                unsafeSQL: "SELECT node, pid FROM cancelq_daemons WHERE host = $1 AND heartbeat_at < cancelq_now() - lease_seconds",
                binds: binds))
        for row in expired {
            let (name, pid): (String, Int) = (try row.value(0), try row.value(1))
            guard Self.processIsGone(pid) else { continue }
            var forget = PostgresBindings()
            forget.append(name)
            try await session.rows(
                PostgresQuery(
                    unsafeSQL: "DELETE FROM cancelq_daemons WHERE node = $1 AND heartbeat_at < cancelq_now() - lease_seconds",
                    binds: forget))
        }
    }

    /// Whether process `pid` of this host has ended: no such process, or a zombie its parent has
    /// not reaped yet (killed, but still listed until then).
    static func processIsGone(_ pid: Int) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid_t(pid), 0) != 0 { return errno == ESRCH }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.range(of: ") ", options: .backwards)
        else { return false }
        return stat[afterName.upperBound...].hasPrefix("Z")
    }

    public func leave() async {
        // Whatever transaction a failed last turn left, lost or open, ends here.
        await session.rollback()
        var binds = PostgresBindings()
        binds.append(node)
        _ = try? await session.rows(PostgresQuery(unsafeSQL: "DELETE FROM cancelq_daemons WHERE node = $1", binds: binds))
        await close()
    }

    /// Written inside each of the daemon's commits (see `uncertainCommit`). It is a heartbeat too:
    /// a claim in this commit is rescued by another daemon only a lease after it, which covers the
    /// request timeout the claim's request has to leave in, however late this daemon learns that
    /// the commit landed.
    func markCommit(_ token: String) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(token)
        binds.append(node)
        try await session.rows(
            PostgresQuery(
                unsafeSQL: "UPDATE cancelq_daemons SET last_commit = $1, heartbeat_at = cancelq_now() WHERE node = $2",
                binds: binds))
    }

    /// Ends the server process that was committing when its connection was given up, and returns
    /// once it is gone; throws `.unavailable` (the loop retries, answers kept) while it lingers.
    func awaitEnd(of backend: PostgresSession.Backend) async throws(StoreError) {
        var binds = PostgresBindings()
        binds.append(backend.pid)
        binds.append(backend.start)
        let same = "pid = $1 AND backend_start::text = $2"
        for attempt in 0..<20 {
            // Inside a transaction the activity view is a snapshot: refresh it on each look.
            try await session.rows("SELECT pg_stat_clear_snapshot()")
            let alive = try await session.rows(
                PostgresQuery(
                    unsafeSQL: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE \(same)", binds: binds))
            if alive.isEmpty { return }
            if attempt == 0 {
                logger.warning(
                    "the commit whose answer was lost is still in server process \(backend.pid); ending it before deciding whether it happened")
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        throw .unavailable(
            location: location,
            reason: "server process \(backend.pid), which was committing when its connection was lost, has not ended yet (stopped?); its commit is undecided until it does")
    }

    /// Whether the commit that wrote `token` happened (read after reconnecting).
    func commitHappened(_ token: String) async throws(StoreError) -> Bool {
        var binds = PostgresBindings()
        binds.append(node)
        let rows = try await session.rows(
            PostgresQuery(unsafeSQL: "SELECT last_commit FROM cancelq_daemons WHERE node = $1", binds: binds))
        let last: String? = try rows.first?.value(0)
        return last == token
    }
}
