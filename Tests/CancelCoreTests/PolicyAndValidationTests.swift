import ZeusAPI
import CancelCore
import Testing

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("backoff doubles from 30 s and stops at the 30 min cap")
    func backoffSchedule() {
        let policy = RetryPolicy.standard
        let delays = (1...9).map { policy.backoff(afterAttempts: $0, unit: 0) }
        #expect(delays == [30, 60, 120, 240, 480, 960, 1800, 1800, 1800])
    }

    @Test("jitter only shortens, by at most its fraction")
    func jitterBounds() {
        let policy = RetryPolicy.standard
        #expect(policy.backoff(afterAttempts: 1, unit: 0.999_999) > 24)
        #expect(policy.backoff(afterAttempts: 1, unit: 0.5) == 27)
    }

    @Test("maintenance pause grows from 5 min to its cap")
    func maintenancePause() {
        let policy = RetryPolicy.standard
        #expect((1...6).map { policy.maintenancePause(streak: $0) } == [300, 600, 1200, 2400, 3600, 3600])
    }

    @Test("a delay below 5 s and non-positive numbers are refused")
    func refusals() {
        #expect(throws: RetryPolicy.Invalid.delayBelowMinimum(4.9)) { try RetryPolicy(delayAfterPayment: 4.9) }
        #expect(throws: RetryPolicy.Invalid.self) { try RetryPolicy(maxAttempts: 0) }
        #expect(throws: RetryPolicy.Invalid.self) { try RetryPolicy(backoffBase: -1) }
        #expect(throws: RetryPolicy.Invalid.self) { try RetryPolicy(backoffBase: 60, backoffCap: 30) }
        #expect(throws: RetryPolicy.Invalid.self) { try RetryPolicy(jitter: 1.5) }
        #expect((try? RetryPolicy(delayAfterPayment: 5)) != nil)
    }
}

@Suite("Field validation")
struct FieldValidationTests {
    @Test("order numbers: 1 to 50 bytes of printable ASCII without spaces")
    func orderNumbers() throws {
        #expect(try OrderNumber(validating: "999.999.999.999-999999-9999999999-99999999").value.count == 42)
        #expect(throws: FieldError.empty(field: "order number")) { try OrderNumber(validating: "") }
        #expect(throws: FieldError.tooLong(field: "order number", maximum: 50, actual: 51)) {
            try OrderNumber(validating: String(repeating: "1", count: 51))
        }
        let space = #expect(throws: FieldError.self) { try OrderNumber(validating: "A B") }
        #expect(space?.description == "order number has character ' ' (space) at position 2; allowed: printable ASCII without spaces")
        #expect(throws: FieldError.self) { try OrderNumber(validating: "é") }
    }

    @Test("client IP codes: 5 to 10 digits")
    func clientIP() throws {
        #expect(try ClientIPCode(validating: "12345").value == "12345")
        #expect(try ClientIPCode(validating: "1234567890").value == "1234567890")
        #expect(throws: FieldError.self) { try ClientIPCode(validating: "1234") }
        #expect(throws: FieldError.self) { try ClientIPCode(validating: "12345678901") }
        #expect(throws: FieldError.self) { try ClientIPCode(validating: "12a45") }
        #expect(throws: FieldError.self) { try ClientIPCode(validating: "１２３４５") }
    }

    @Test("keys: 1 to 40 printable characters, and no error or description ever shows the key")
    func keysAreNeverShown() throws {
        let secret = "s3cr3t-KEY-zzz"
        let key = try AuthKey(validating: secret)
        #expect(!"\(key)".contains(secret))
        #expect(!String(reflecting: key).contains(secret))
        for bad in [secret + " tail", secret + String(repeating: "q", count: 40), secret + "\u{7}"] {
            let error = #expect(throws: FieldError.self) { try AuthKey(validating: bad) }
            #expect(error.map { !"\($0)".contains(secret) } == true)
        }
    }
}

@Suite("Duration text")
struct DurationTextTests {
    @Test("durations read coarse, without zero parts", arguments: [
        (0.25, "0.3 s"), (3, "3 s"), (42, "42 s"), (300, "5 min"), (185, "3 min 5 s"), (7800, "2 h 10 min"),
        (86_400 * 3 + 3600 * 4, "3 d 4 h"), (-90, "1 min 30 s"),
    ] as [(Double, String)])
    func describe(seconds: Double, text: String) {
        #expect(DurationText.describe(seconds) == text)
    }
}
