import CancelCore
import Testing

/// A transaction that inserts many jobs and commits after the surge window has passed: counted by
/// insert time they would all arrive unseen by the hold. The daemon counts them when it finds them.
@Suite("Late arrivals against the surge limit")
struct LateArrivalsTests {
    let limit = SurgeLimit(holdAbove: 5, window: 10)

    @Test("jobs inserted before the window and found now count from now; jobs inside the window are the store's count")
    func lateJobsCount() {
        var late = LateArrivals(limit: limit)
        late.discovered(insertedAt: [t0 - 20, t0 - 15, t0 - 11, t0 - 1, t0], now: t0, limit: limit)
        #expect(late.count(after: t0 - 10) == 3)
        // An approval at t0 released them: they do not count toward the next surge.
        #expect(late.count(after: t0) == 0)
        // Out of the window once it has moved past their discovery.
        late.discovered(insertedAt: [], now: t0 + 11, limit: limit)
        #expect(late.count(after: t0 + 1) == 0)
    }

    @Test("at most one past the limit is kept: enough to decide, bounded memory")
    func bounded() {
        var late = LateArrivals(limit: limit)
        late.discovered(insertedAt: Array(repeating: t0 - 60, count: 10_000), now: t0, limit: limit)
        #expect(late.count(after: t0 - 10) == 6)
        var off = LateArrivals(limit: .off)
        off.discovered(insertedAt: [t0 - 7200], now: t0, limit: .off)
        #expect(off.count(after: t0 - 3600) == 0)
    }
}
