import Testing

/// One statement that meets an existing row of a cancelq table, and the error the schema names.
struct ConflictCase: Sendable, CustomTestStringConvertible {
    let table: String
    let verb: String
    let sql: String
    let refusal: String
    /// Attempt rows and operator actions are cancelq's only: their conflicts are tried on a
    /// connection cancelq opened (an application's is refused before any conflict).
    var asCancelq: Bool { table == "cancellation_attempts" || table == "operator_actions" || table == "sending_gate" }

    var testDescription: String { "\(table): \(verb)" }

    /// The six conflict clauses (and a chosen id of -1, which a BEFORE trigger takes for "no id")
    /// on every table, against the rows of `NoBypassFixture`.
    static let all: [ConflictCase] = cancellations + attempts + withdrawals + operatorActions + gate + stateCounts + migrations

    static func six(_ table: String, insert: (String) -> String, update: String, _ refusal: String, updateRefusal: String)
        -> [ConflictCase]
    {
        [
            ConflictCase(table: table, verb: "INSERT OR REPLACE", sql: insert("INSERT OR REPLACE INTO"), refusal: refusal),
            ConflictCase(table: table, verb: "REPLACE INTO", sql: insert("REPLACE INTO"), refusal: refusal),
            ConflictCase(table: table, verb: "INSERT OR IGNORE", sql: insert("INSERT OR IGNORE INTO"), refusal: refusal),
            ConflictCase(table: table, verb: "ON CONFLICT DO NOTHING", sql: insert("INSERT INTO") + " ON CONFLICT DO NOTHING", refusal: refusal),
            ConflictCase(table: table, verb: "UPDATE OR REPLACE", sql: update, refusal: updateRefusal),
        ]
    }

    static let cancellations =
        six(
            "cancellations", insert: { "\($0) cancellations(order_number) VALUES ('B')" },
            update: "UPDATE OR REPLACE cancellations SET order_number = 'A' WHERE order_number = 'D'", "order_number_already_enqueued",
            updateRefusal: "never change once queued")
        + [
            ConflictCase(
                table: "cancellations", verb: "ON CONFLICT DO UPDATE",
                sql: "INSERT INTO cancellations(order_number) VALUES ('A') ON CONFLICT(order_number) DO UPDATE SET due_at = 0",
                refusal: "order_number_already_enqueued"),
            ConflictCase(
                table: "cancellations", verb: "REPLACE with id -1",
                sql: "REPLACE INTO cancellations(id, order_number) VALUES (-1, 'E')", refusal: "insert_sets_only_order_number_and_paid_at"),
        ]

    static let attempts =
        six(
            "cancellation_attempts",
            insert: {
                "\($0) cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status, result_status, result_code, counted) VALUES (1, 1, 1, 2, 200, 'failure', '02189999', 1)"
            },
            update: "UPDATE OR REPLACE cancellation_attempts SET cancellation_id = 1 WHERE cancellation_id = 3", "attempt_already_recorded",
            updateRefusal: "id, cancellation_id and attempt never change")
        + [
            ConflictCase(
                table: "cancellation_attempts", verb: "ON CONFLICT DO UPDATE",
                sql:
                    "INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at) VALUES (3, 1, 1) ON CONFLICT(cancellation_id, attempt) DO UPDATE SET completed_at = 2, result_status = 'success', result_code = '000'",
                refusal: "attempt_already_recorded"),
            ConflictCase(
                table: "cancellation_attempts", verb: "REPLACE by id",
                sql:
                    "REPLACE INTO cancellation_attempts(id, cancellation_id, attempt, started_at, completed_at, http_status, result_status, result_code, counted) VALUES (1, 4, 1, 1, 2, 200, 'failure', '02189999', 1)",
                refusal: "attempt_id_is_sqlites"),
            ConflictCase(
                table: "cancellation_attempts", verb: "REPLACE with id -1",
                sql: "REPLACE INTO cancellation_attempts(id, cancellation_id, attempt, started_at) VALUES (-1, 4, 1, 1)",
                refusal: "attempt_id_is_sqlites"),
        ]

    static let withdrawals =
        six(
            "cancellation_withdrawals", insert: { "\($0) cancellation_withdrawals(id, order_number, reason) VALUES (1, 'D', 'rewritten')" },
            update: "UPDATE OR REPLACE cancellation_withdrawals SET reason = 'rewritten'",
            "withdrawal_insert_sets_only_order_number_and_reason", updateRefusal: "cannot be changed")
        + [
            ConflictCase(
                table: "cancellation_withdrawals", verb: "ON CONFLICT DO UPDATE",
                sql:
                    "INSERT INTO cancellation_withdrawals(id, order_number, reason) VALUES (1, 'D', 'x') ON CONFLICT(id) DO UPDATE SET reason = 'rewritten'",
                refusal: "withdrawal_insert_sets_only_order_number_and_reason"),
            ConflictCase(
                table: "cancellation_withdrawals", verb: "REPLACE with id -1",
                sql: "REPLACE INTO cancellation_withdrawals(id, order_number, reason) VALUES (-1, 'D', 'x')",
                refusal: "withdrawal_insert_sets_only_order_number_and_reason"),
        ]

    static let operatorActions =
        six(
            "operator_actions",
            insert: { "\($0) operator_actions(id, at, action, detail, operator) VALUES (1, 1, 'approve', 'released 0', 'alice')" },
            update: "UPDATE OR REPLACE operator_actions SET operator = 'mallory'", "operator_action_id_is_sqlites",
            updateRefusal: "cannot be changed")
        + [
            ConflictCase(
                table: "operator_actions", verb: "ON CONFLICT DO UPDATE",
                sql:
                    "INSERT INTO operator_actions(id, at, action, detail, operator) VALUES (1, 1, 'approve', '', 'alice') ON CONFLICT(id) DO UPDATE SET action = 'approve'",
                refusal: "operator_action_id_is_sqlites"),
            ConflictCase(
                table: "operator_actions", verb: "REPLACE with id -1",
                sql: "REPLACE INTO operator_actions(id, at, action, detail, operator) VALUES (-1, 1, 'approve', '', 'alice')",
                refusal: "operator_action_id_is_sqlites"),
        ]

    static let gate =
        six(
            "sending_gate", insert: { "\($0) sending_gate(id, mode) VALUES (1, 'open')" }, update: "UPDATE OR REPLACE sending_gate SET id = 2",
            "sending_gate_has_one_row", updateRefusal: "CHECK constraint failed")
        + [
            ConflictCase(
                table: "sending_gate", verb: "ON CONFLICT DO UPDATE",
                sql: "INSERT INTO sending_gate(id) VALUES (1) ON CONFLICT(id) DO UPDATE SET mode = 'open'", refusal: "sending_gate_has_one_row")
        ]

    static let stateCounts =
        six(
            "cancellation_state_counts", insert: { "\($0) cancellation_state_counts(state, jobs) VALUES ('sent', 0)" },
            update: "UPDATE OR REPLACE cancellation_state_counts SET state = 'sent' WHERE state = 'failed'", "state_count_exists",
            updateRefusal: "state_count_exists")
        + [
            ConflictCase(
                table: "cancellation_state_counts", verb: "ON CONFLICT DO UPDATE",
                sql: "INSERT INTO cancellation_state_counts(state, jobs) VALUES ('sent', 0) ON CONFLICT(state) DO UPDATE SET jobs = 0",
                refusal: "state_count_exists")
        ]

    static let migrations =
        six(
            "schema_migrations",
            insert: { "\($0) schema_migrations(version, name, checksum, applied_at) VALUES (1, '0001_initial.sql', 'forged', 0)" },
            update: "UPDATE OR REPLACE schema_migrations SET version = 1 WHERE version = 2", "migration_already_recorded",
            updateRefusal: "applied migrations are never changed")
        + [
            ConflictCase(
                table: "schema_migrations", verb: "ON CONFLICT DO UPDATE",
                sql:
                    "INSERT INTO schema_migrations(version, name, checksum, applied_at) VALUES (1, 'x', 'forged', 0) ON CONFLICT(version) DO UPDATE SET checksum = 'forged'",
                refusal: "migration_already_recorded")
        ]
}
