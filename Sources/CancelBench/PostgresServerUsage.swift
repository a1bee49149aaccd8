import CancelPostgres
import Foundation

/// What the PostgreSQL server itself spends on a drain: the CPU of its processes (read from /proc,
/// so only when it runs on this machine) and the rows written to the database's tables.
struct PostgresServerUsage {
    let queue: PostgresQueue
    /// nil when the server's processes cannot be read here (a remote server).
    let postmaster: Int32?

    /// The postmaster is the parent of this session's backend. The backend must show this session's
    /// client port (or `[local]`) in its title, so a remote server's pid that happens to be a local
    /// PostgreSQL process is not taken for ours.
    static func find(_ queue: PostgresQueue) async -> PostgresServerUsage {
        let answer = try? await queue.sqlColumn(
            "SELECT pg_backend_pid() || ' ' || coalesce(inet_client_port()::text, 'local')"
        ).first.flatMap { $0 }
        let parts = answer?.split(separator: " ") ?? []
        guard parts.count == 2, let backend = Int32(parts[0]) else { return PostgresServerUsage(queue: queue, postmaster: nil) }
        let client = parts[1] == "local" ? "[local]" : "(\(parts[1]))"
        guard isPostgres(backend), commandLine(backend).contains(client),
            let fields = Measurements.statFields(pid: backend), fields.count > 1, let parent = Int32(fields[1]), isPostgres(parent)
        else { return PostgresServerUsage(queue: queue, postmaster: nil) }
        return PostgresServerUsage(queue: queue, postmaster: parent)
    }

    /// CPU seconds of the postmaster and all its children so far, those that exited included: the
    /// postmaster reaps them, which adds their time to its cutime+cstime. Read again when a child was
    /// reaped during the scan, or its time would be counted in neither or in both.
    func cpuSeconds() -> Double? {
        guard let postmaster else { return nil }
        for _ in 0..<5 {
            guard let first = Measurements.statFields(pid: postmaster) else { return nil }
            let children = Self.children(of: postmaster).reduce(0) { $0 + Self.ticks($1) }
            guard let second = Measurements.statFields(pid: postmaster) else { return nil }
            // cutime and cstime: unchanged means no child was reaped meanwhile.
            if first.count > 14, second.count > 14, first[13...14] == second[13...14] {
                return (Self.ticks(second) + children) / Double(sysconf(Int32(_SC_CLK_TCK)))
            }
        }
        return nil
    }

    /// Inserts, updates and deletes in this database's tables, once every backend's statistics are
    /// in: backends flush them lazily (at most once a second, and when they exit), so read until the
    /// sum holds still.
    func rowsWritten() async throws -> Double {
        // This session's own counts at once (PostgreSQL 15 and later; older servers flush them within a second).
        _ = try? await queue.sqlColumn("SELECT pg_stat_force_next_flush()")
        var last = try await rowsNow()
        for _ in 0..<10 {
            try await Task.sleep(nanoseconds: 500_000_000)
            let now = try await rowsNow()
            if now == last { return now }
            last = now
        }
        return last
    }

    private func rowsNow() async throws -> Double {
        // Without this a transaction could keep showing the statistics it read first.
        _ = try await queue.sqlColumn("SELECT pg_stat_clear_snapshot()")
        let sum = try await queue.sqlColumn(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::float8 FROM pg_stat_user_tables")
        return sum.first.flatMap { $0 }.flatMap(Double.init) ?? .nan
    }

    /// The two lines of `bench postgres`: the server's CPU and its rows, per job.
    static func report(cpu: Double?, rows: Double, jobs: Int, out: (String) -> Void) {
        if let cpu {
            out(String(format: "  server CPU/job    %.1f µs (PostgreSQL's processes together: %.2f s user+system)", cpu / Double(jobs) * 1e6, cpu))
        } else {
            out("  server CPU/job    not measured (the server's processes cannot be read from this machine's /proc)")
        }
        out(String(format: "  rows written/job  %.1f (inserts+updates+deletes in pg_stat_user_tables)", rows / Double(jobs)))
    }

    // MARK: /proc

    /// utime+stime+cutime+cstime, in clock ticks: the process's own time and that of its reaped children.
    private static func ticks(_ fields: [Substring]) -> Double {
        // After the command: utime, stime, cutime, cstime are the 12th to 15th fields.
        guard fields.count > 14 else { return 0 }
        return fields[11...14].reduce(0) { $0 + (Double($1) ?? 0) }
    }

    /// The stat fields of the postmaster's living children (backends, WAL writer, checkpointer, autovacuum…).
    private static func children(of parent: Int32) -> [[Substring]] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
        return pids.compactMap { pid in
            guard let fields = Measurements.statFields(pid: pid), fields.count > 1, fields[1] == "\(parent)" else { return nil }
            return fields
        }
    }

    private static func isPostgres(_ pid: Int32) -> Bool {
        let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        let program = commandLine(pid).split(separator: " ").first ?? ""
        return comm.hasPrefix("postgres") || program.hasPrefix("postgres") || program.hasSuffix("/postgres")
    }

    private static func commandLine(_ pid: Int32) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
        return String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }
}
