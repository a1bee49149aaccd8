import CancelQueue
import SQLite

/// The schema's rule that attempt rows and operator actions come from cancelq only (migration
/// 0005): its triggers call these functions, which only the connections cancelq opens define. On
/// any other connection the statement fails as it is prepared, with "no such function: <name>", a
/// message that says what the rule is. It stops a careless application, not a deliberate one (which
/// can define the functions itself): README, "Reading outcomes".
public enum CancelqWriterFunctions {
    public static let attemptRows = "attempt_rows_are_written_by_cancelq_only"
    public static let operatorActions = "operator_actions_are_written_by_cancelq_only"
    /// The gate holds a halt or a surge hold for every job: an application's `UPDATE sending_gate
    /// SET mode = 'open'` would release them (only `resume`, `approve` and the daemon may).
    public static let sendingGate = "sending_gate_is_written_by_cancelq_only"

    /// Lets `connection` write attempt rows, operator actions and the sending gate.
    public static func define(on connection: Connection) throws(SQLiteError) {
        for name in [attemptRows, operatorActions, sendingGate] { try connection.defineMarkerFunction(name) }
    }
}
