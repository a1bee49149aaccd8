-- The queue and its audit trail. This is a contract with the enqueuing applications
-- (see ARCHITECTURE.md): they INSERT INTO cancellations(order_number[, paid_at]) and read outcomes.

CREATE TABLE cancellations (
    id             INTEGER PRIMARY KEY,
    order_number   TEXT NOT NULL
        CONSTRAINT order_number_already_enqueued UNIQUE
        CONSTRAINT order_number_must_be_1_to_50_bytes_of_printable_ascii_without_spaces
            -- length() stops at a NUL and counts characters, so equal lengths mean NUL-free ASCII;
            -- GLOB then refuses controls and spaces.
            CHECK (length(CAST(order_number AS BLOB)) BETWEEN 1 AND 50
                   AND length(order_number) = length(CAST(order_number AS BLOB))
                   AND order_number NOT GLOB '*[^!-~]*'),
    -- Unix seconds of the PayRes success; NULL means "use the enqueue time".
    paid_at        REAL
        CONSTRAINT paid_at_must_be_unix_seconds_or_null CHECK (paid_at IS NULL OR paid_at >= 0),
    state          TEXT NOT NULL DEFAULT 'pending'
        CONSTRAINT state_must_be_one_of_the_seven_states
            CHECK (state IN ('pending', 'waiting-delay', 'sent', 'succeeded', 'failed',
                             'retrying', 'maintenance-paused')),
    -- Attempts that count against the limit (maintenance and credential answers do not).
    attempt_count  INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    -- HTTP requests sent for this job = rows in cancellation_attempts.
    request_count  INTEGER NOT NULL DEFAULT 0 CHECK (request_count >= 0),
    due_at         REAL,
    outcome        TEXT
        CONSTRAINT outcome_must_be_known
            CHECK (outcome IS NULL OR outcome IN ('cancelled', 'already-cancelled',
                   'rejected-order-number', 'order-not-found', 'request-rejected', 'gave-up',
                   'unrecognised-answer', 'past-deadline')),
    last_status    TEXT,
    last_code      TEXT,
    last_error     TEXT,
    created_at     REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    updated_at     REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
) STRICT;

-- The daemon's hot query: the next due jobs among the non-final ones.
CREATE INDEX cancellations_due ON cancellations (due_at)
    WHERE state IN ('waiting-delay', 'retrying', 'maintenance-paused');
-- New rows to pick up, and rows a crash left in flight.
CREATE INDEX cancellations_new ON cancellations (id) WHERE state = 'pending';
CREATE INDEX cancellations_in_flight ON cancellations (id) WHERE state = 'sent';
-- Status counts per state without a table scan.
CREATE INDEX cancellations_state ON cancellations (state, updated_at);

CREATE TABLE cancellation_attempts (
    id               INTEGER PRIMARY KEY,
    cancellation_id  INTEGER NOT NULL REFERENCES cancellations (id),
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    started_at       REAL NOT NULL,
    completed_at     REAL,
    http_status      INTEGER,
    result_status    TEXT,
    result_code      TEXT,
    error            TEXT,
    -- Whether this attempt counted against the attempt limit.
    counted          INTEGER CHECK (counted IN (0, 1)),
    CONSTRAINT attempt_number_unique_per_cancellation UNIQUE (cancellation_id, attempt)
) STRICT;

-- The audit trail is append-only: an answered attempt never changes and no attempt is deleted.
CREATE TRIGGER cancellation_attempts_completed_are_immutable
BEFORE UPDATE ON cancellation_attempts
WHEN OLD.completed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'cancellation_attempts: a completed attempt is part of the audit trail and cannot be changed');
END;

CREATE TRIGGER cancellation_attempts_are_never_deleted
BEFORE DELETE ON cancellation_attempts
BEGIN
    SELECT RAISE(ABORT, 'cancellation_attempts: attempts are part of the audit trail and cannot be deleted');
END;

-- Also enforced when an application connects without PRAGMA foreign_keys.
CREATE TRIGGER cancellations_with_attempts_are_never_deleted
BEFORE DELETE ON cancellations
WHEN EXISTS (SELECT 1 FROM cancellation_attempts WHERE cancellation_id = OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'cancellations: a job with attempts is part of the audit trail and cannot be deleted');
END;

-- Sending as a whole: open, paused for maintenance, or halted for rejected credentials.
-- One row, so that `cancelq status` and a restarted daemon see what the last one decided.
CREATE TABLE sending_gate (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    mode                TEXT NOT NULL DEFAULT 'open' CHECK (mode IN ('open', 'paused', 'halted')),
    paused_until        REAL,
    maintenance_streak  INTEGER NOT NULL DEFAULT 0 CHECK (maintenance_streak >= 0),
    reason              TEXT,
    code                TEXT,
    since               REAL,
    updated_at          REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
) STRICT;

INSERT INTO sending_gate (id) VALUES (1);

-- Operator actions (requeue, resume) for the audit trail.
CREATE TABLE operator_actions (
    id               INTEGER PRIMARY KEY,
    at               REAL NOT NULL,
    action           TEXT NOT NULL,
    cancellation_id  INTEGER REFERENCES cancellations (id),
    detail           TEXT
) STRICT;
