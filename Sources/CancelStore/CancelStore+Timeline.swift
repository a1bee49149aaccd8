import CancelQueue
import SQLite

extension CancelStore {
    public func timeline(orderNumber: String) throws(StoreError) -> OrderTimeline? {
        guard let record = try job(orderNumber: orderNumber) else { return nil }
        return try storeErrors {
            let attempts = try connection.query(
                """
                SELECT attempt, started_at, completed_at, http_status, result_status, result_code, error, counted
                FROM cancellation_attempts WHERE cancellation_id = ? ORDER BY attempt
                """, [record.id]
            ) {
                OrderTimeline.Attempt(
                    attempt: $0.int(0), startedAt: $0.double(1), completedAt: $0.optionalDouble(2),
                    httpStatus: $0.optionalInt(3), status: $0.optionalString(4), code: $0.optionalString(5),
                    error: $0.optionalString(6), counted: $0.optionalInt(7).map { $0 == 1 })
            }
            let actions = try connection.query(
                "SELECT at, action, detail, operator FROM operator_actions WHERE cancellation_id = ? ORDER BY id", [record.id]
            ) {
                OrderTimeline.OperatorAction(
                    at: $0.double(0), action: $0.string(1), detail: $0.optionalString(2), operator: $0.optionalString(3))
            }
            let withdrawals = try connection.query(
                "SELECT at, reason FROM cancellation_withdrawals WHERE order_number = ? ORDER BY id", [record.orderNumber]
            ) { OrderTimeline.Withdrawal(at: $0.double(0), reason: $0.optionalString(1)) }
            return OrderTimeline(record: record, attempts: attempts, operatorActions: actions, withdrawals: withdrawals)
        }
    }
}
