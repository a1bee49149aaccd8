-- No bypass, round two (issue 18): conflicts on cancelq's tables are errors for applications
-- (REPLACE never deletes a row of cancelq's), attempt rows and operator actions come from cancelq
-- only, and a job whose last request may have reached the gateway cannot be withdrawn.
-- See README, "Enqueuing", "Withdrawing a cancellation", "Reading outcomes" and "Upgrading".

-- 1. Conflicts are errors. REPLACE (INSERT OR REPLACE, REPLACE INTO, UPDATE OR REPLACE) resolves a
-- UNIQUE or PRIMARY KEY conflict by deleting the existing row, and fires no DELETE trigger for it: a
-- withdrawn or confirmed job would be queued afresh, an attempt or an operator action rewritten.
-- A BEFORE trigger runs before that resolution and aborts the whole statement, so REPLACE never
-- reaches its delete; a trigger cannot tell OR IGNORE, ON CONFLICT DO NOTHING or DO UPDATE from
-- REPLACE, so every conflict is the named error. Keys never change (UPDATE OR REPLACE), and ids are
-- SQLite's: a chosen id (an explicit -1 looks like "no id" to a BEFORE trigger, hence the AFTER
-- checks) could otherwise collide with the next row SQLite numbers.

CREATE TRIGGER cancellations_order_number_already_enqueued
BEFORE INSERT ON cancellations
WHEN EXISTS (SELECT 1 FROM cancellations WHERE order_number = NEW.order_number)
BEGIN
    SELECT RAISE(ABORT, 'order_number_already_enqueued: this order is already queued and is never replaced (OR IGNORE, OR REPLACE and ON CONFLICT included); insert it only WHERE NOT EXISTS, or read its row; nothing was inserted');
END;

CREATE TRIGGER cancellations_id_is_sqlites
AFTER INSERT ON cancellations
WHEN NEW.id < 1
BEGIN
    SELECT RAISE(ABORT, 'insert_sets_only_order_number_and_paid_at: an application inserts INSERT INTO cancellations(order_number, paid_at); state, times, counts and outcome are the daemon''s');
END;

CREATE TRIGGER cancellation_attempts_id_is_sqlites
BEFORE INSERT ON cancellation_attempts
WHEN NEW.id <> -1
BEGIN
    SELECT RAISE(ABORT, 'attempt_id_is_sqlites: cancellation_attempts is an append-only audit trail; a row is never inserted with its id, nor replaced');
END;

CREATE TRIGGER cancellation_attempts_id_is_sqlites_after
AFTER INSERT ON cancellation_attempts
WHEN NEW.id < 1
BEGIN
    SELECT RAISE(ABORT, 'attempt_id_is_sqlites: cancellation_attempts is an append-only audit trail; a row is never inserted with its id, nor replaced');
END;

CREATE TRIGGER cancellation_attempts_attempt_already_recorded
BEFORE INSERT ON cancellation_attempts
WHEN EXISTS (SELECT 1 FROM cancellation_attempts WHERE cancellation_id = NEW.cancellation_id AND attempt = NEW.attempt)
BEGIN
    SELECT RAISE(ABORT, 'attempt_already_recorded: this job already has an attempt with this number; the audit trail is never replaced');
END;

CREATE TRIGGER cancellation_attempts_keys_never_change
BEFORE UPDATE OF id, cancellation_id, attempt ON cancellation_attempts
WHEN NEW.id IS NOT OLD.id OR NEW.cancellation_id IS NOT OLD.cancellation_id OR NEW.attempt IS NOT OLD.attempt
BEGIN
    SELECT RAISE(ABORT, 'cancellation_attempts: id, cancellation_id and attempt never change');
END;

CREATE TRIGGER cancellation_withdrawals_id_is_sqlites
AFTER INSERT ON cancellation_withdrawals
WHEN NEW.id < 1
BEGIN
    SELECT RAISE(ABORT, 'withdrawal_insert_sets_only_order_number_and_reason: an application inserts INSERT INTO cancellation_withdrawals(order_number, reason)');
END;

CREATE TRIGGER operator_actions_id_is_sqlites
BEFORE INSERT ON operator_actions
WHEN NEW.id <> -1
BEGIN
    SELECT RAISE(ABORT, 'operator_action_id_is_sqlites: operator_actions is an append-only audit trail; a row is never inserted with its id, nor replaced');
END;

CREATE TRIGGER operator_actions_id_is_sqlites_after
AFTER INSERT ON operator_actions
WHEN NEW.id < 1
BEGIN
    SELECT RAISE(ABORT, 'operator_action_id_is_sqlites: operator_actions is an append-only audit trail; a row is never inserted with its id, nor replaced');
END;

-- One row, id 1 (its CHECK allows no other, so an update cannot collide): an insert over it would
-- replace a halt or a hold with an open gate.
CREATE TRIGGER sending_gate_has_one_row
BEFORE INSERT ON sending_gate
WHEN EXISTS (SELECT 1 FROM sending_gate)
BEGIN
    SELECT RAISE(ABORT, 'sending_gate_has_one_row: the gate row exists and is never replaced; cancelq updates it');
END;

CREATE TRIGGER cancellation_state_counts_state_exists
BEFORE INSERT ON cancellation_state_counts
WHEN EXISTS (SELECT 1 FROM cancellation_state_counts WHERE state = NEW.state)
BEGIN
    SELECT RAISE(ABORT, 'state_count_exists: the per-state counts are kept by triggers; a state''s row is never replaced');
END;

CREATE TRIGGER cancellation_state_counts_state_never_changes
BEFORE UPDATE OF state ON cancellation_state_counts
WHEN NEW.state IS NOT OLD.state
BEGIN
    SELECT RAISE(ABORT, 'state_count_exists: the per-state counts are kept by triggers; a state''s row is never renamed');
END;

-- What the migrator recorded tells every later run which schema it works on: append-only.
CREATE TRIGGER schema_migrations_migration_already_recorded
BEFORE INSERT ON schema_migrations
WHEN EXISTS (SELECT 1 FROM schema_migrations WHERE version = NEW.version)
BEGIN
    SELECT RAISE(ABORT, 'migration_already_recorded: schema_migrations is append-only; an applied migration is never replaced');
END;

CREATE TRIGGER schema_migrations_are_never_changed
BEFORE UPDATE ON schema_migrations
BEGIN
    SELECT RAISE(ABORT, 'schema_migrations: applied migrations are never changed');
END;

CREATE TRIGGER schema_migrations_are_never_deleted
BEFORE DELETE ON schema_migrations
BEGIN
    SELECT RAISE(ABORT, 'schema_migrations: applied migrations are never deleted');
END;

-- 2. Attempt rows and operator actions come from cancelq only: a completed success row written by
-- an application would mark its job succeeded with no request sent. These triggers call functions
-- that only cancelq's own connections define (CancelStore's CancelqConnection); on any other
-- connection the statement fails as it is prepared, with "no such function: <the rule>". This
-- stops a careless or buggy application, not one that defines the function or drops the trigger
-- (the schema check reports a dropped one); an untrusted application belongs on PostgreSQL.
-- Deletes and changes of completed rows are refused to everyone (0001, 0004).

CREATE TRIGGER cancellation_attempts_inserted_by_cancelq_only
BEFORE INSERT ON cancellation_attempts
BEGIN
    SELECT attempt_rows_are_written_by_cancelq_only();
END;

CREATE TRIGGER cancellation_attempts_updated_by_cancelq_only
BEFORE UPDATE ON cancellation_attempts
BEGIN
    SELECT attempt_rows_are_written_by_cancelq_only();
END;

CREATE TRIGGER operator_actions_inserted_by_cancelq_only
BEFORE INSERT ON operator_actions
BEGIN
    SELECT operator_actions_are_written_by_cancelq_only();
END;

-- The gate holds a credential halt or a surge hold for every job: an application's UPDATE of it
-- would release them behind the operator's back. Only cancelq's connections write it (nothing an
-- application may do, a withdrawal included, touches it).
CREATE TRIGGER sending_gate_inserted_by_cancelq_only
BEFORE INSERT ON sending_gate
BEGIN
    SELECT sending_gate_is_written_by_cancelq_only();
END;

CREATE TRIGGER sending_gate_updated_by_cancelq_only
BEFORE UPDATE ON sending_gate
BEGIN
    SELECT sending_gate_is_written_by_cancelq_only();
END;

CREATE TRIGGER sending_gate_deleted_by_cancelq_only
BEFORE DELETE ON sending_gate
BEGIN
    SELECT sending_gate_is_written_by_cancelq_only();
END;

-- 3. A withdrawal comes too late once a request may have reached the gateway: a completed attempt
-- without the gateway's answer (a timeout, a reset, a TLS failure, a non-200 status, an unreadable
-- body, a rescue's or a restart's "outcome unknown") may have cancelled the order already, and a
-- daemon frozen or cut off past its lease may still send its old claim. The job goes on until the
-- gateway answers (a repeat is answered "already cancelled"). "connection refused", and the
-- daemon's own "not sent: …" (a claim past its send deadline), are the failures in which the
-- request provably never left. Only withdrawable states are checked here:
-- the other withdrawal triggers refuse the rest, and each case gets one error.
CREATE TRIGGER cancellation_withdrawals_too_late_outcome_unknown
BEFORE INSERT ON cancellation_withdrawals
WHEN EXISTS (
    SELECT 1 FROM cancellations c JOIN cancellation_attempts a ON a.cancellation_id = c.id
    WHERE c.order_number = NEW.order_number
      AND c.state IN ('pending', 'waiting-delay', 'retrying', 'maintenance-paused')
      AND a.completed_at IS NOT NULL AND a.result_status IS NULL
      AND a.error IS NOT 'connection refused' AND coalesce(a.error, '') NOT LIKE 'not sent: %')
BEGIN
    SELECT RAISE(ABORT, 'withdrawal_too_late_outcome_unknown: an earlier request for this order may have reached the gateway (no definite answer came back); the job goes on until the gateway answers; nothing was withdrawn');
END;

-- 4. A job is `succeeded` only on the gateway's confirmation in its audit trail: an attempt row
-- (written by cancelq only, above) answered `success` `000` or `invalid` `02180118` (already
-- cancelled). An application's UPDATE of the state would otherwise show a cancellation that never
-- reached the gateway. The daemon records the answer before the job's new state.
CREATE TRIGGER cancellations_succeeded_only_on_the_gateways_confirmation
BEFORE UPDATE OF state ON cancellations
WHEN NEW.state = 'succeeded' AND OLD.state <> 'succeeded'
    AND NOT EXISTS (SELECT 1 FROM cancellation_attempts
                    WHERE cancellation_id = NEW.id AND completed_at IS NOT NULL
                      AND ((result_status = 'success' AND result_code = '000')
                           OR (result_status = 'invalid' AND result_code = '02180118')))
BEGIN
    SELECT RAISE(ABORT, 'succeeded_only_on_the_gateways_confirmation: a job becomes succeeded only when its audit trail holds the gateway''s answer (success 000 or invalid 02180118); only cancelq records answers');
END;
