/// How long to wait and how often to try. Durations are seconds.
public struct RetryPolicy: Equatable, Sendable {
    /// The spec asks for 5 to 10 s between PayRes success and the cancellation.
    public static let minimumDelayAfterPayment = 5.0
    /// ZEUS refuses cancellations of payments older than this.
    public static let defaultDeadline = 240.0 * 86_400

    public var delayAfterPayment: Double
    public var maxAttempts: Int
    public var backoffBase: Double
    public var backoffMultiplier: Double
    public var backoffCap: Double
    /// Each backoff is shortened by up to this fraction, at random, to spread retries.
    public var jitter: Double
    public var maintenancePause: Double
    public var maintenancePauseCap: Double
    public var deadline: Double

    public enum Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        case delayBelowMinimum(Double)
        case notPositive(name: String, value: Double)
        case jitterOutOfRange(Double)
        case capBelowBase(name: String)

        public var description: String {
            switch self {
            case .delayBelowMinimum(let value):
                return "delay after payment is \(value) s; ZEUS asks for at least 5 s after the PayRes success"
            case .notPositive(let name, let value):
                return "\(name) must be greater than 0 (got \(value))"
            case .jitterOutOfRange(let value):
                return "jitter must be between 0 and 1 (got \(value))"
            case .capBelowBase(let name):
                return "\(name) cap must not be below its base"
            }
        }
    }

    public init(
        delayAfterPayment: Double = 10, maxAttempts: Int = 10, backoffBase: Double = 30,
        backoffMultiplier: Double = 2, backoffCap: Double = 1800, jitter: Double = 0.2,
        maintenancePause: Double = 300, maintenancePauseCap: Double = 3600,
        deadline: Double = RetryPolicy.defaultDeadline
    ) throws(Invalid) {
        guard delayAfterPayment >= Self.minimumDelayAfterPayment else {
            throw .delayBelowMinimum(delayAfterPayment)
        }
        for (name, value) in [
            ("max attempts", Double(maxAttempts)), ("retry base", backoffBase),
            ("backoff multiplier", backoffMultiplier), ("retry max", backoffCap),
            ("maintenance pause", maintenancePause), ("maintenance pause cap", maintenancePauseCap),
            ("deadline", deadline),
        ] where !(value > 0) || !value.isFinite {
            throw .notPositive(name: name, value: value)
        }
        guard (0...1).contains(jitter) else { throw .jitterOutOfRange(jitter) }
        guard backoffCap >= backoffBase else { throw .capBelowBase(name: "retry") }
        guard maintenancePauseCap >= maintenancePause else { throw .capBelowBase(name: "maintenance pause") }
        self.delayAfterPayment = delayAfterPayment
        self.maxAttempts = maxAttempts
        self.backoffBase = backoffBase
        self.backoffMultiplier = backoffMultiplier
        self.backoffCap = backoffCap
        self.jitter = jitter
        self.maintenancePause = maintenancePause
        self.maintenancePauseCap = maintenancePauseCap
        self.deadline = deadline
    }

    /// The defaults of the contract (10 s delay, 10 attempts, 30 s ×2 up to 30 min, 5 min pause).
    public static let standard = try! RetryPolicy()

    /// The wait before the next try after `attempts` counted attempts (1 = after the first).
    /// `unit` in [0, 1) comes from the caller's random source; 0 gives the un-jittered value.
    public func backoff(afterAttempts attempts: Int, unit: Double) -> Double {
        var delay = backoffBase
        var step = 1
        while step < attempts && delay < backoffCap {
            delay *= backoffMultiplier
            step += 1
        }
        return min(delay, backoffCap) * (1 - jitter * unit)
    }

    /// The pause after the `streak`-th maintenance answer in a row (1 = the first).
    public func maintenancePause(streak: Int) -> Double {
        var pause = maintenancePause
        var step = 1
        while step < streak && pause < maintenancePauseCap {
            pause *= 2
            step += 1
        }
        return min(pause, maintenancePauseCap)
    }
}
