import CancelCore
import Testing

/// One test per row of SPEC.md's code table: state, outcome, attempt accounting, global action.
@Suite("Code table")
struct CodeTableTests {
    @Test("success 000: cancelled, final")
    func success000() throws {
        var script = Script()
        let sentAt = try script.sendFirst()
        let actions = try script.on(.answered(.success("000")), at: sentAt + 1)
        #expect(actions == .finish(.cancelled))
        #expect(script.job.state == .succeeded)
        #expect(script.job.outcome == .cancelled)
        #expect(script.gate == .open)
    }

    @Test("invalid 02180118: already cancelled counts as success")
    func alreadyCancelled02180118() throws {
        var script = Script()
        let sentAt = try script.sendFirst()
        #expect(try script.on(.answered(.invalid("02180118")), at: sentAt + 1) == .finish(.alreadyCancelled))
        #expect(script.job.state == .succeeded)
    }

    @Test("invalid 02180114: order not found retries, then fails as order-not-found at the limit")
    func orderNotFound02180114() throws {
        var script = Script(policy: try RetryPolicy(maxAttempts: 3, jitter: 0))
        var now = try script.sendFirst()
        #expect(try script.on(.answered(.invalid("02180114")), at: now) == .retry(at: now + 30))
        #expect(script.job.state == .retrying)
        #expect(script.job.attemptCount == 1)
        now += 30
        try script.on(.due, at: now)
        #expect(try script.on(.answered(.invalid("02180114")), at: now) == .retry(at: now + 60))
        now += 60
        try script.on(.due, at: now)
        #expect(try script.on(.answered(.invalid("02180114")), at: now) == .finish(.orderNotFound, counted: true))
        #expect(script.job.state == .failed)
        #expect(script.job.attemptCount == 3)
    }

    @Test(
        "invalid request codes: our request is wrong, failed at once and reported",
        arguments: ["02030105", "02030106", "02030107", "02030108", "02030207", "02030208", "02030209"])
    func requestRejected(_ code: String) throws {
        var script = Script()
        let now = try script.sendFirst()
        let actions = try script.on(.answered(.invalid(code)), at: now)
        #expect(actions == Decision(.finish(.requestRejected), notice: .requestRejected(code: code)))
        #expect(script.job.state == .failed)
        #expect(script.gate == .open)
    }

    @Test("invalid action codes 02080114 and 02080115: failed", arguments: ["02080114", "02080115"])
    func actionRejected(_ code: String) throws {
        var script = Script()
        let now = try script.sendFirst()
        #expect(try script.on(.answered(.invalid(code)), at: now) == Decision(.finish(.requestRejected), notice: .requestRejected(code: code)))
        #expect(script.job.outcome == .requestRejected)
    }

    @Test(
        "invalid credential codes: halt sending, job back to waiting, attempt not counted",
        arguments: ["02130114", "02130117", "02130110", "02130118", "02130214", "02130217", "02130210"])
    func credentialsRejected(_ code: String) throws {
        var script = Script()
        let now = try script.sendFirst()
        let actions = try script.on(.answered(.invalid(code)), at: now)
        let reason = HaltReason.credentialsRejected(code: code)
        #expect(actions == Decision(.wait(until: now), gate: .halted(reason, since: now)))
        #expect(script.job.state == .waitingDelay)
        #expect(script.job.attemptCount == 0)
        #expect(script.gate == .halted(reason, since: now))
        #expect(script.gate.allowance(now: now + 86_400, probeInFlight: false) == .none(until: nil))
        #expect(reason.explanation.contains(code))
    }

    @Test("failure 02189999 (or any code): retrying with backoff, gave-up at the limit", arguments: ["02189999", "02180000"])
    func failure(_ code: String) throws {
        var script = Script(policy: try RetryPolicy(maxAttempts: 2, jitter: 0))
        var now = try script.sendFirst()
        #expect(try script.on(.answered(.failure(code)), at: now) == .retry(at: now + 30))
        #expect(script.job.attemptCount == 1)
        now += 30
        try script.on(.due, at: now)
        #expect(try script.on(.answered(.failure(code)), at: now) == .finish(.gaveUp, counted: true))
        #expect(script.job.state == .failed)
    }

    @Test(
        "maintenance 02000012, 02051010 or any code: paused, attempt not counted, sending paused globally",
        arguments: ["02000012", "02051010", "02059999"])
    func maintenance(_ code: String) throws {
        var script = Script()
        let now = try script.sendFirst()
        let actions = try script.on(.answered(.maintenance(code)), at: now)
        #expect(actions == Decision(.wait(until: now + 300), gate: .paused(until: now + 300, streak: 1, since: now)))
        #expect(script.job.state == .maintenancePaused)
        #expect(script.job.attemptCount == 0)
        #expect(script.gate == .paused(until: now + 300, streak: 1, since: now))
        #expect(script.gate.allowance(now: now + 299, probeInFlight: false) == .none(until: now + 300))
        #expect(script.gate.allowance(now: now + 300, probeInFlight: false) == .probe)
        #expect(script.gate.allowance(now: now + 300, probeInFlight: true) == .none(until: nil), "one probe at a time")
    }

    @Test(
        "anything else is unrecognised: retrying, then failed as unrecognised-answer",
        arguments: [GatewayAnswer(status: "invalid", code: "02999999"), GatewayAnswer(status: "weird", code: "000"),
                    GatewayAnswer(status: "", code: "")])
    func unrecognised(_ answer: GatewayAnswer) throws {
        var script = Script(policy: try RetryPolicy(maxAttempts: 2, jitter: 0))
        var now = try script.sendFirst()
        #expect(try script.on(.answered(answer), at: now) == .retry(at: now + 30))
        now += 30
        try script.on(.due, at: now)
        #expect(try script.on(.answered(answer), at: now) == .finish(.unrecognisedAnswer, counted: true))
    }

    @Test(
        "no answer (timeout, reset, TLS, HTTP status, unparseable body): retrying, outcome unknown",
        arguments: [TransportFailure.timeout, .connectionReset, .tls("bad certificate"),
                    .httpStatus(503), .undecodableBody("not XML")])
    func transportFailure(_ failure: TransportFailure) throws {
        var script = Script(policy: try RetryPolicy(maxAttempts: 2, jitter: 0))
        var now = try script.sendFirst()
        #expect(try script.on(.transportFailed(failure), at: now) == .retry(at: now + 30))
        #expect(script.job.state == .retrying)
        now += 30
        try script.on(.due, at: now)
        #expect(try script.on(.transportFailed(failure), at: now) == .finish(.gaveUp, counted: true))
    }

    @Test("classification is by status first: maintenance ignores the code; success means cancelled only with 000")
    func statusFirst() {
        #expect(CodeTable.classify(.success("000")) == .cancelled)
        #expect(CodeTable.classify(.success("123")) == .unrecognised)
        #expect(CodeTable.classify(.success("")) == .unrecognised)
        #expect(CodeTable.classify(.maintenance("02180118")) == .maintenance)
        #expect(CodeTable.classify(.failure("02180118")) == .paymentRefused)
        #expect(CodeTable.classify(.invalid("02180118")) == .alreadyCancelled)
    }

    @Test("a code's meaning is shown only under the status the specification gives it")
    func meaningFollowsStatus() {
        #expect(CodeTable.meaning(of: .success("000")) == "cancelled")
        #expect(CodeTable.meaning(of: .failure("000")) == nil, "failure/000 must not read as cancelled")
        #expect(CodeTable.meaning(of: .init(status: "sıccess", code: "000")) == nil)
        #expect(CodeTable.meaning(of: .invalid("02180118")) == "order already cancelled")
        #expect(CodeTable.meaning(of: .failure("02180118")) == nil)
        #expect(CodeTable.meaning(of: .maintenance("02000012")) != nil)
    }

    @Test("every code of the specification has a meaning for the status output")
    func meanings() {
        let codes = ["000", "02030105", "02030106", "02030107", "02030108", "02030207", "02030208", "02030209",
                     "02080114", "02080115", "02130114", "02130117", "02130110", "02130118", "02130214",
                     "02130217", "02130210", "02180114", "02180118", "02189999", "02000012", "02051010"]
        for code in codes {
            #expect(CodeTable.meaning(of: code) != nil, "no meaning for \(code)")
        }
    }
}
