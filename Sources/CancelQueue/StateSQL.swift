import CancelCore

/// State lists for SQL, made from `State` so that a new state cannot be missed in a query. The
/// partial index `cancellations_due` is written with the awaiting-send list in this same order
/// (`State.allCases` order); the daemon's due query names that index and SQLite refuses it if the
/// lists ever differ, which the tests would show.
extension State {
    /// `'waiting-delay', 'retrying', 'maintenance-paused'` as an SQL list.
    public static func sqlList(_ include: (State) -> Bool) -> String {
        "(" + allCases.filter(include).map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"
    }

    public static let awaitingSendSQL = sqlList(\.isAwaitingSend)
    public static let unfinishedSQL = sqlList { !$0.isFinal }

    /// This state as an SQL literal (raw values are plain ASCII words and hyphens).
    public var sql: String { "'\(rawValue)'" }
}
