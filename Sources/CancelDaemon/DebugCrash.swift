#if DEBUG
    import Foundation
#endif

/// A crash that only tests can force, to prove poison-job quarantine: in a debug build,
/// `CANCELQ_DEBUG_CRASH_ON_ANSWER=ORDER` aborts the process when the answer for ORDER arrives,
/// before it is recorded, as a parser or runtime bug on one answer would. Release builds have
/// no such hook.
enum DebugCrash {
    #if DEBUG
        static let requested = ProcessInfo.processInfo.environment["CANCELQ_DEBUG_CRASH_ON_ANSWER"]
    #endif

    static func ifRequested(answering orderNumber: String) {
        #if DEBUG
            if let order = requested, order == orderNumber {
                fatalError("CANCELQ_DEBUG_CRASH_ON_ANSWER: crashing on the answer for \(order), as requested")
            }
        #endif
    }
}
