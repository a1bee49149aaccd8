/// Jobs that became visible long after their insert: a transaction that inserted them and committed
/// only after the surge window had passed. The surge count goes by the insert time (`created_at`),
/// so they would all arrive at once and none would count. A daemon that has been scanning without a
/// gap knows better: what it finds now was committed since its last scan. Pure; the run loop records
/// what it discovers and adds `count(after:)` to the store's count.
public struct LateArrivals: Hashable, Sendable {
    /// When each late job was discovered, oldest first; at most `cap` of them are kept.
    private var discoveredAt: [Double] = []
    private let cap: Int

    /// `limit`'s count cap: one past the limit decides, more need not be kept.
    public init(limit: SurgeLimit) {
        cap = limit.isOn ? limit.countCap : 0
    }

    /// Jobs discovered at `now` (their insert times), by a daemon that scanned without a gap just
    /// before: those inserted before the window began count as arriving now.
    public mutating func discovered(insertedAt: [Double], now: Double, limit: SurgeLimit) {
        guard cap > 0 else { return }
        let windowStart = now - limit.window
        discoveredAt.removeAll { $0 <= windowStart }
        let late = insertedAt.filter { $0 <= windowStart }.count
        discoveredAt += Array(repeating: now, count: min(late, cap))
        if discoveredAt.count > cap { discoveredAt.removeFirst(discoveredAt.count - cap) }
    }

    /// Late jobs discovered after `countedFrom` (the window's start or the last approval): none of
    /// them is in a count by insert time from there.
    public func count(after countedFrom: Double) -> Int {
        discoveredAt.reduce(0) { $0 + ($1 > countedFrom ? 1 : 0) }
    }
}
