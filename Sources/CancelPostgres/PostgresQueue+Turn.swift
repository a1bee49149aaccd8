import CancelCore
import CancelQueue
import PostgresNIO

/// The run loop's turns on PostgreSQL. A turn's first locking read begins its transaction; the
/// commit ends it; and whatever the closure leaves (it read and did not commit, or threw) is
/// rolled back before `turn` returns. So no transaction, and no row lock, outlives the call.
extension PostgresQueue {
    public func turn<T>(_ body: (any QueueTurn) async throws -> T) async throws -> T {
        // A turn inside a turn would end the outer one's transaction (and its locks) unseen.
        guard openTurn == nil else { throw StoreError.server(location: location, message: Self.misusedTurn, constraint: nil) }
        turnsBegun += 1
        openTurn = turnsBegun
        defer { openTurn = nil }
        // Nothing of an earlier call may be continued here (the session ends its own, so this is
        // only ever a guard): a turn starts from no transaction.
        await session.rollback()
        do {
            let value = try await body(PostgresTurn(queue: self, number: turnsBegun))
            await session.rollback()
            return value
        } catch {
            await session.rollback()
            throw error
        }
    }
}

extension PostgresQueue {
    static let misusedTurn = "a turn was used outside its closure, or begun inside another (a bug in cancelq: please report it)"
}

/// The reads of a turn lock what they return (`FOR UPDATE SKIP LOCKED`): a row another daemon is
/// deciding about is not read here, and the rows read here stay as read until the commit.
struct PostgresTurn: QueueTurn {
    let queue: PostgresQueue
    let number: Int

    func newJobs(limit: Int) async throws(StoreError) -> [JobRecord] {
        var binds = PostgresBindings()
        binds.append(limit)
        return try await locked(where: "state = \(State.pending.sql) ORDER BY id LIMIT $1", binds)
    }

    /// Due by the server's clock and by the caller's `now` (the daemon's estimate of it): never
    /// early by the server, and never read as "too early" by the daemon.
    func dueJobs(now: Double, limit: Int) async throws(StoreError) -> [JobRecord] {
        var binds = PostgresBindings()
        binds.append(limit)
        binds.append(now)
        // A sub-select, evaluated once: a volatile function in the bound would scan every waiting row.
        return try await locked(
            where: "state IN \(State.awaitingSendSQL) AND due_at <= (SELECT least(cancelq_now(), $2)) ORDER BY due_at, id LIMIT $1", binds)
    }

    /// At start: this daemon's own jobs left in flight by its previous run, and jobs copied from
    /// SQLite in flight (no owner). Other daemons' are rescued by `abandonedJobs`, once this
    /// daemon has heartbeated long enough to judge theirs.
    func interruptedJobs() async throws(StoreError) -> [JobRecord] {
        var binds = PostgresBindings()
        binds.append(queue.node)
        return try await locked(where: "state = 'sent' AND (owner = $1 OR owner IS NULL) ORDER BY id", binds)
    }

    func abandonedJobs() async throws(StoreError) -> [JobRecord] {
        // After this daemon's own silence (its start, a lost connection, a database that hung for
        // everyone), the others' heartbeats are stale too: give them time to beat again first.
        guard queue.clock.now() >= queue.rescuesAllowedFrom else { return [] }
        var binds = PostgresBindings()
        binds.append(queue.node)
        return try await locked(where: "state = 'sent' AND owner IS DISTINCT FROM $1 AND \(PostgresQueue.ownerIsDead) ORDER BY id LIMIT 256", binds)
    }

    func commit(_ writes: [JobWrite], gate: SendingGate?, now: Double) async throws(StoreError) -> [TamperedWrite] {
        try requireOpen()
        return try await queue.commitWrites(writes, gate: gate, now: now)
    }

    /// A turn's handle kept past its closure would open a transaction no turn ends.
    private func requireOpen() throws(StoreError) {
        guard queue.openTurn == number else { throw .server(location: queue.location, message: PostgresQueue.misusedTurn, constraint: nil) }
    }

    /// A failed read ends the transaction at once: the commit after it begins a clean one.
    private func locked(where condition: String, _ binds: PostgresBindings) async throws(StoreError) -> [JobRecord] {
        try requireOpen()
        do {
            return try await queue.jobs(where: condition, binds, lock: true)
        } catch {
            await queue.session.rollback()
            throw error
        }
    }
}
