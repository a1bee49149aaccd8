import CancelCore
import CancelQueue

/// What `cancelq approve` says: the backlog it shows, why it asks again, what it released.
public enum ApprovalText {
    /// The prompt's summary: what "yes" releases, and nothing else.
    public static func summary(_ held: HeldBacklog) -> String {
        "sending is held since \(Formatting.localTime(held.since)): \(held.surge). "
            + "Approving releases \(Formatting.count(held.backlog)) waiting job(s); each cancels a payment and cannot be undone."
    }

    /// The held jobs are not those shown: nothing was approved.
    public static func changed(shown: HeldBacklog, now: HeldBacklog) -> String {
        "not approved: the held jobs changed while you were asked (\(Formatting.count(shown.backlog)) shown, "
            + "\(Formatting.count(now.backlog)) waiting now: jobs were queued, withdrawn or committed meanwhile). Look again:"
    }

    public static let busy =
        "not approved: a transaction on the queue stayed open too long to count the held jobs (an application inserting?); sending stays held: try again"

    /// The confirmation: exactly what was released, and from when new jobs count again.
    public static func released(_ held: HeldBacklog, approvedAt: Double) -> String {
        "approved: sending resumes; \(Formatting.count(held.backlog)) waiting job(s) released, exactly those shown. "
            + "Jobs enqueued after \(Formatting.localTime(approvedAt)) count toward the next surge "
            + "(more than \(held.surge.holdAbove) of them within \(DurationText.describe(held.surge.window)) hold sending again)"
    }
}
