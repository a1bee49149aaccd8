@testable import CancelMetrics
import Testing

@Suite("bounded wait")
struct BoundedWaitTests {
    /// The scrape that read the store reported "overdue" now and then (the flaky exporter tests):
    /// the value's arrival cancelled the timer before claiming the answer, and the woken timer won.
    @Test("a value that arrives long before the limit is never reported as overdue, over 100,000 races on two threads")
    func anArrivedValueIsNeverOverdue() async {
        var overdue = 0
        for round in 0..<1000 {
            let results = await withTaskGroup(of: Int?.self) { group in
                for index in 0..<100 {
                    group.addTask {
                        let task = Task { round * 100 + index }
                        return await value(of: task, within: .seconds(30))
                    }
                }
                var results: [Int?] = []
                for await result in group { results.append(result) }
                return results
            }
            overdue += results.filter { $0 == nil }.count
        }
        #expect(overdue == 0, "\(overdue) of 100,000 values that had arrived were reported as overdue")
    }

    @Test("a value that does not arrive within the limit is reported as overdue, and the task goes on")
    func aLateValueIsOverdue() async {
        let task = Task { () -> Int in
            try? await Task.sleep(for: .seconds(1))
            return 7
        }
        let started = ContinuousClock.now
        #expect(await value(of: task, within: .milliseconds(50)) == nil)
        #expect(ContinuousClock.now - started < .milliseconds(900), "the caller did not wait for the value")
        #expect(await task.value == 7)
    }
}
