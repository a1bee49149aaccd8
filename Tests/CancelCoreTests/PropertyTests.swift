import CancelCore
import Testing
import TestSupport

/// Invariants over many random event sequences, replayable from their seed.
@Suite("State machine properties")
struct PropertyTests {
    static let answers: [GatewayAnswer] = [
        .success(), .invalid("02180118"), .invalid("02180114"), .invalid("02030106"), .invalid("02080115"),
        .invalid("02130210"), .invalid("02130117"), .failure("02189999"), .maintenance("02000012"),
        .maintenance("02051010"), .init(status: "bogus", code: "1"),
    ]

    /// nil stands for an operator's requeue.
    static func randomEvent(_ random: inout SeededGenerator) -> JobEvent? {
        switch Int.random(in: 0..<7, using: &random) {
        case 0: .discovered
        case 1, 2: .due
        case 3: .answered(answers.randomElement(using: &random)!)
        case 4: .transportFailed([.timeout, .connectionReset, .httpStatus(500)].randomElement(using: &random)!)
        case 5: .recoveredAfterCrash
        default: nil
        }
    }

    @Test("over 3,000 random lives, every invariant of the machine holds", arguments: [UInt64(1), 2, 3])
    func invariants(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let policy = try RetryPolicy(maxAttempts: 4)
        for _ in 0..<1_000 {
            var job = CancellationJob(orderNumber: "ORDER-\(seed)", paidAt: t0, enqueuedAt: t0)
            var gate = SendingGate.open
            var now = t0
            for _ in 0..<80 {
                now += Double.random(in: 0...400, using: &random)
                if Bool.random(using: &random) { gate.resume() }
                let event = Self.randomEvent(&random)
                let before = job
                let decision: Decision
                do {
                    if let event {
                        decision = try job.handle(event, gate: gate, policy: policy, now: now, random: &random)
                    } else {
                        decision = try job.requeue()
                    }
                } catch {
                    #expect(job == before, "a refused event changed the job")
                    continue
                }
                if let changed = decision.gate { gate = changed }
                // The decision says what happened; the job's new state agrees with it.
                switch decision.next {
                case .send: #expect(job.state == .sent)
                case .wait(let until): #expect(job.state.isAwaitingSend && job.dueAt == until)
                case .finish(let outcome): #expect(job.state.isFinal && job.outcome == outcome)
                case .restart: #expect(job.state == .pending && before.state == .failed)
                }
                if decision.next != .restart {
                    #expect(decision.countsAttempt == (job.attemptCount != before.attemptCount), "\(decision) vs counts")
                }
                #expect(job.attemptCount <= policy.maxAttempts)
                if before.state == .succeeded { Issue.record("left succeeded by \(String(describing: event))") }
                if before.state == .failed { #expect(event == nil, "left failed by \(String(describing: event))") }
                if before.state == .sent {
                    switch event {
                    case .answered, .transportFailed, .recoveredAfterCrash: break
                    default: Issue.record("sent was followed by \(String(describing: event))")
                    }
                }
                if case .answered(let answer) = event {
                    switch CodeTable.classify(answer) {
                    case .maintenance, .credentialsRejected:
                        #expect(job.attemptCount == before.attemptCount, "\(answer) changed the attempt count")
                    default: break
                    }
                }
                if job.state.isFinal { #expect(job.outcome != nil && job.dueAt == nil) }
                if job.state.isAwaitingSend { #expect(job.dueAt != nil) }
            }
        }
    }
}
