-- Guard rails for an irreversible operation (issue 12): withdrawals, the surge hold, and who did
-- what. See README, "Withdrawing a cancellation" and "Surge hold".

-- An application (or `cancelq withdraw`) takes back a queued cancellation before its request has
-- left: INSERT INTO cancellation_withdrawals(order_number, reason). The job becomes `withdrawn` in
-- the same transaction (trigger below); the insert fails with a named error when it is too late.
-- Rows are the audit trail of withdrawals: never changed, never deleted.
CREATE TABLE cancellation_withdrawals (
    id            INTEGER PRIMARY KEY,
    order_number  TEXT NOT NULL,
    reason        TEXT
        CONSTRAINT withdrawal_reason_at_most_1000_bytes CHECK (reason IS NULL OR length(CAST(reason AS BLOB)) <= 1000),
    at            REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
) STRICT;

CREATE INDEX cancellation_withdrawals_order ON cancellation_withdrawals (order_number);

-- The checks run in the order SQLite fires BEFORE triggers (unspecified), so each refuses a case the
-- others let through: an unknown order has no state, a known one is either in flight or final.
CREATE TRIGGER cancellation_withdrawals_order_must_be_queued
BEFORE INSERT ON cancellation_withdrawals
WHEN NOT EXISTS (SELECT 1 FROM cancellations WHERE order_number = NEW.order_number)
BEGIN
    SELECT RAISE(ABORT, 'withdrawal_order_unknown: no cancellation with this order_number is queued; nothing was withdrawn');
END;

CREATE TRIGGER cancellation_withdrawals_too_late_request_in_flight
BEFORE INSERT ON cancellation_withdrawals
WHEN (SELECT state FROM cancellations WHERE order_number = NEW.order_number) = 'sent'
BEGIN
    SELECT RAISE(ABORT, 'withdrawal_too_late_request_in_flight: a request for this order has already left and waits for its answer; nothing was withdrawn');
END;

CREATE TRIGGER cancellation_withdrawals_too_late_job_final
BEFORE INSERT ON cancellation_withdrawals
WHEN (SELECT state FROM cancellations WHERE order_number = NEW.order_number) IN ('succeeded', 'failed', 'withdrawn')
BEGIN
    SELECT RAISE(ABORT, 'withdrawal_too_late_job_final: this order''s cancellation is already final (succeeded, failed or withdrawn); nothing was withdrawn');
END;

-- An application sets order_number and reason; the id and the time are the database's.
CREATE TRIGGER cancellation_withdrawals_insert_sets_only_order_number_and_reason
BEFORE INSERT ON cancellation_withdrawals
WHEN NEW.id <> -1 OR abs(NEW.at - (julianday('now') - 2440587.5) * 86400.0) > 1
BEGIN
    SELECT RAISE(ABORT, 'withdrawal_insert_sets_only_order_number_and_reason: an application inserts INSERT INTO cancellation_withdrawals(order_number, reason)');
END;

-- The job becomes final in the inserting transaction: the daemon's claim of it (an UPDATE that only
-- takes a row still in the state it read) then changes nothing, and no request leaves.
CREATE TRIGGER cancellation_withdrawals_withdraw_the_job
AFTER INSERT ON cancellation_withdrawals
BEGIN
    UPDATE cancellations SET state = 'withdrawn', outcome = 'withdrawn', due_at = NULL, updated_at = NEW.at
    WHERE order_number = NEW.order_number;
END;

CREATE TRIGGER cancellation_withdrawals_are_never_changed
BEFORE UPDATE ON cancellation_withdrawals
BEGIN
    SELECT RAISE(ABORT, 'cancellation_withdrawals: withdrawals are part of the audit trail and cannot be changed');
END;

CREATE TRIGGER cancellation_withdrawals_are_never_deleted
BEFORE DELETE ON cancellation_withdrawals
BEGIN
    SELECT RAISE(ABORT, 'cancellation_withdrawals: withdrawals are part of the audit trail and cannot be deleted');
END;

-- A withdrawal is a row in cancellation_withdrawals, with its time and reason: setting the state by
-- hand skips the record, and on a job in flight or final it would hide what the gateway did.
CREATE TRIGGER cancellations_withdrawn_only_by_a_withdrawal
BEFORE UPDATE OF state ON cancellations
WHEN NEW.state = 'withdrawn' AND OLD.state <> 'withdrawn'
    AND (OLD.state NOT IN ('pending', 'waiting-delay', 'retrying', 'maintenance-paused')
         OR NOT EXISTS (SELECT 1 FROM cancellation_withdrawals WHERE order_number = OLD.order_number))
BEGIN
    SELECT RAISE(ABORT, 'withdraw_by_insert: a job is withdrawn by INSERT INTO cancellation_withdrawals(order_number, reason), and only before a request has left');
END;

-- Withdrawn is final: a withdrawn job set back to waiting would be sent after all.
CREATE TRIGGER cancellations_withdrawn_is_final
BEFORE UPDATE OF state ON cancellations
WHEN OLD.state = 'withdrawn' AND NEW.state <> 'withdrawn'
BEGIN
    SELECT RAISE(ABORT, 'withdrawn_is_final: a withdrawn job is never sent; queue a new cancellation only if the order really must be cancelled');
END;

-- A withdrawn job keeps its row, so that its withdrawal always belongs to the job it took back.
CREATE TRIGGER cancellations_withdrawn_are_never_deleted
BEFORE DELETE ON cancellations
WHEN OLD.state = 'withdrawn'
BEGIN
    SELECT RAISE(ABORT, 'cancellations: a withdrawn job is part of the audit trail and cannot be deleted');
END;

-- The surge hold counts the jobs enqueued within a trailing window.
CREATE INDEX cancellations_created ON cancellations (created_at);

-- Who did it: the login behind sudo, else the user. NULL on actions recorded before this migration.
ALTER TABLE operator_actions ADD COLUMN operator TEXT;

CREATE TRIGGER operator_actions_are_never_changed
BEFORE UPDATE ON operator_actions
BEGIN
    SELECT RAISE(ABORT, 'operator_actions: operator actions are part of the audit trail and cannot be changed');
END;

CREATE TRIGGER operator_actions_are_never_deleted
BEFORE DELETE ON operator_actions
BEGIN
    SELECT RAISE(ABORT, 'operator_actions: operator actions are part of the audit trail and cannot be deleted');
END;

-- The gate's CHECK must accept `held`; SQLite cannot change a CHECK in place, so the table is
-- rebuilt. A hold keeps what started it (jobs counted, the limit, the window, where counting began);
-- approved_at is the last approval: only jobs enqueued after it count toward the next surge.
CREATE TABLE sending_gate_rebuilt (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    mode                TEXT NOT NULL DEFAULT 'open'
        CONSTRAINT sending_gate_mode_known CHECK (mode IN ('open', 'paused', 'halted', 'held')),
    paused_until        REAL,
    maintenance_streak  INTEGER NOT NULL DEFAULT 0 CHECK (maintenance_streak >= 0),
    reason              TEXT,
    code                TEXT,
    since               REAL,
    updated_at          REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    hold_enqueued       INTEGER CHECK (hold_enqueued IS NULL OR hold_enqueued >= 0),
    hold_above          INTEGER CHECK (hold_above IS NULL OR hold_above >= 1),
    hold_window         REAL CHECK (hold_window IS NULL OR hold_window > 0),
    hold_counted_from   REAL,
    approved_at         REAL
) STRICT;

INSERT INTO sending_gate_rebuilt (id, mode, paused_until, maintenance_streak, reason, code, since, updated_at)
SELECT id, mode, paused_until, maintenance_streak, reason, code, since, updated_at FROM sending_gate;

DROP TABLE sending_gate;
ALTER TABLE sending_gate_rebuilt RENAME TO sending_gate;

INSERT OR IGNORE INTO sending_gate (id) VALUES (1);
