-- Hardening (see README, "Upgrading"): the eight states (`withdrawn`), the outcomes `quarantined`
-- and `withdrawn`, a count of abnormal stops a job was in flight at (poison jobs), and an insert
-- that may set nothing but order_number and paid_at. SQLite cannot change a CHECK in place: the
-- table is rebuilt as its documentation describes, with foreign keys off (the migrator does that
-- and runs PRAGMA foreign_key_check before committing).

CREATE TABLE cancellations_rebuilt (
    id             INTEGER PRIMARY KEY,
    order_number   TEXT NOT NULL
        CONSTRAINT order_number_already_enqueued UNIQUE
        CONSTRAINT order_number_must_be_1_to_50_bytes_of_printable_ascii_without_spaces
            CHECK (length(CAST(order_number AS BLOB)) BETWEEN 1 AND 50
                   AND length(order_number) = length(CAST(order_number AS BLOB))
                   AND order_number NOT GLOB '*[^!-~]*'),
    -- Unix seconds of the PayRes success; NULL means "use the enqueue time". NaN binds as NULL.
    paid_at        REAL
        CONSTRAINT paid_at_must_be_unix_seconds_or_null CHECK (paid_at IS NULL OR (paid_at >= 0 AND paid_at < 1e11)),
    state          TEXT NOT NULL DEFAULT 'pending'
        CONSTRAINT state_must_be_one_of_the_eight_states
            CHECK (state IN ('pending', 'waiting-delay', 'sent', 'succeeded', 'failed',
                             'retrying', 'maintenance-paused', 'withdrawn')),
    attempt_count  INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    request_count  INTEGER NOT NULL DEFAULT 0 CHECK (request_count >= 0),
    due_at         REAL,
    outcome        TEXT
        CONSTRAINT outcome_must_be_known
            CHECK (outcome IS NULL OR outcome IN ('cancelled', 'already-cancelled',
                   'rejected-order-number', 'order-not-found', 'request-rejected', 'gave-up',
                   'unrecognised-answer', 'past-deadline', 'quarantined', 'withdrawn')),
    last_status    TEXT,
    last_code      TEXT,
    last_error     TEXT,
    created_at     REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    updated_at     REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    -- Abnormal stops (crash, SIGKILL) this job was in flight at, in a row; at 3 it is quarantined.
    interruptions  INTEGER NOT NULL DEFAULT 0 CHECK (interruptions >= 0)
) STRICT;

INSERT INTO cancellations_rebuilt (id, order_number, paid_at, state, attempt_count, request_count, due_at,
                                   outcome, last_status, last_code, last_error, created_at, updated_at)
SELECT id, order_number, paid_at, state, attempt_count, request_count, due_at,
       outcome, last_status, last_code, last_error, created_at, updated_at
FROM cancellations;

DROP TABLE cancellations;
ALTER TABLE cancellations_rebuilt RENAME TO cancellations;

CREATE INDEX cancellations_due ON cancellations (due_at)
    WHERE state IN ('waiting-delay', 'retrying', 'maintenance-paused');
CREATE INDEX cancellations_new ON cancellations (id) WHERE state = 'pending';
CREATE INDEX cancellations_in_flight ON cancellations (id) WHERE state = 'sent';
CREATE INDEX cancellations_state ON cancellations (state, updated_at);

-- An application sets order_number and paid_at; everything else is the daemon's. A row inserted
-- with a state, a due time, counts or an outcome could be sent early or never; one with a chosen id
-- could adopt another job's audit trail. (NEW.id is -1 when the insert leaves the id to SQLite.)
CREATE TRIGGER cancellations_insert_sets_only_order_number_and_paid_at
BEFORE INSERT ON cancellations
WHEN NEW.id <> -1 OR NEW.state <> 'pending' OR NEW.attempt_count <> 0 OR NEW.request_count <> 0 OR NEW.interruptions <> 0
    OR NEW.due_at IS NOT NULL OR NEW.outcome IS NOT NULL OR NEW.last_status IS NOT NULL
    OR NEW.last_code IS NOT NULL OR NEW.last_error IS NOT NULL
    OR abs(NEW.created_at - (julianday('now') - 2440587.5) * 86400.0) > 1
    OR abs(NEW.updated_at - (julianday('now') - 2440587.5) * 86400.0) > 1
BEGIN
    SELECT RAISE(ABORT, 'insert_sets_only_order_number_and_paid_at: an application inserts INSERT INTO cancellations(order_number, paid_at); state, times, counts and outcome are the daemon''s');
END;

-- Milliseconds instead of seconds is the common mistake: 1.8e12 is the year 59000.
CREATE TRIGGER cancellations_paid_at_not_in_the_future
BEFORE INSERT ON cancellations
WHEN NEW.paid_at > (julianday('now') - 2440587.5) * 86400.0 + 300
BEGIN
    SELECT RAISE(ABORT, 'paid_at_must_not_be_in_the_future: paid_at is more than 5 minutes ahead of the database clock; it takes unix SECONDS (milliseconds by mistake?)');
END;

-- What the audit trail and the delay rest on never changes once queued: the id (attempts refer to
-- it), the order number (each attempt was for it), and the payment and enqueue times (nothing is
-- sent before paid_at, or created_at, + the delay).
CREATE TRIGGER cancellations_identity_and_times_are_immutable
BEFORE UPDATE OF id, order_number, paid_at, created_at ON cancellations
WHEN NEW.id IS NOT OLD.id OR NEW.order_number IS NOT OLD.order_number OR NEW.paid_at IS NOT OLD.paid_at
    OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'cancellations: id, order_number, paid_at and created_at never change once queued');
END;

-- Applications connect without PRAGMA foreign_keys: an attempt row must still belong to a job.
CREATE TRIGGER cancellation_attempts_belong_to_a_job
BEFORE INSERT ON cancellation_attempts
WHEN NOT EXISTS (SELECT 1 FROM cancellations WHERE id = NEW.cancellation_id)
BEGIN
    SELECT RAISE(ABORT, 'cancellation_attempts: no job with that cancellation_id');
END;

CREATE TRIGGER cancellations_with_attempts_are_never_deleted
BEFORE DELETE ON cancellations
WHEN EXISTS (SELECT 1 FROM cancellation_attempts WHERE cancellation_id = OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'cancellations: a job with attempts is part of the audit trail and cannot be deleted');
END;

INSERT INTO cancellation_state_counts (state, jobs) VALUES ('withdrawn', 0);

CREATE TRIGGER cancellation_state_counts_on_insert
AFTER INSERT ON cancellations
BEGIN
    UPDATE cancellation_state_counts SET jobs = jobs + 1 WHERE state = NEW.state;
END;

CREATE TRIGGER cancellation_state_counts_on_update
AFTER UPDATE OF state ON cancellations
WHEN OLD.state <> NEW.state
BEGIN
    UPDATE cancellation_state_counts SET jobs = jobs - 1 WHERE state = OLD.state;
    UPDATE cancellation_state_counts SET jobs = jobs + 1 WHERE state = NEW.state;
END;

CREATE TRIGGER cancellation_state_counts_on_delete
AFTER DELETE ON cancellations
BEGIN
    UPDATE cancellation_state_counts SET jobs = jobs - 1 WHERE state = OLD.state;
END;
