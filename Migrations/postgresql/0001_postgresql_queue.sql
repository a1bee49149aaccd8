-- The queue and its audit trail on PostgreSQL: the same contract as SQLite's schema (ARCHITECTURE.md),
-- in the database's default schema. Applications INSERT INTO cancellations(order_number[, paid_at])
-- and read outcomes; several `cancelq run` share the queue. Times are unix seconds (double precision)
-- from the database server's clock.

CREATE FUNCTION cancelq_now() RETURNS double precision
    LANGUAGE sql VOLATILE AS $$ SELECT extract(epoch FROM clock_timestamp())::double precision $$;

CREATE TABLE cancellations (
    -- ALWAYS: an id is never chosen by an application (it would adopt another job's audit trail).
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_number   text NOT NULL
        CONSTRAINT order_number_already_enqueued UNIQUE
        -- Printable ASCII without spaces: every character from '!' to '~', 1 to 50 of them. SQLite's
        -- name for it, cut to PostgreSQL's 63 bytes for identifiers.
        CONSTRAINT order_number_must_be_1_to_50_bytes_of_printable_ascii_without_s
            CHECK (octet_length(order_number) BETWEEN 1 AND 50 AND order_number ~ '^[!-~]+$'),
    -- Unix seconds of the PayRes success; NULL means "use the enqueue time". NaN and infinity fail.
    paid_at        double precision
        CONSTRAINT paid_at_must_be_unix_seconds_or_null CHECK (paid_at IS NULL OR (paid_at >= 0 AND paid_at < 1e11)),
    state          text NOT NULL DEFAULT 'pending'
        CONSTRAINT state_must_be_one_of_the_eight_states
            CHECK (state IN ('pending', 'waiting-delay', 'sent', 'succeeded', 'failed',
                             'retrying', 'maintenance-paused', 'withdrawn')),
    attempt_count  integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    request_count  integer NOT NULL DEFAULT 0 CHECK (request_count >= 0),
    due_at         double precision,
    outcome        text
        CONSTRAINT outcome_must_be_known
            CHECK (outcome IS NULL OR outcome IN ('cancelled', 'already-cancelled',
                   'rejected-order-number', 'order-not-found', 'request-rejected', 'gave-up',
                   'unrecognised-answer', 'past-deadline', 'quarantined', 'withdrawn')),
    last_status    text,
    last_code      text,
    last_error     text,
    created_at     double precision NOT NULL DEFAULT cancelq_now(),
    updated_at     double precision NOT NULL DEFAULT cancelq_now(),
    interruptions  integer NOT NULL DEFAULT 0 CHECK (interruptions >= 0),
    -- The daemon (its --node-name) whose request for this job is in flight; NULL otherwise.
    owner          text,
    CONSTRAINT only_a_sent_job_has_an_owner CHECK (owner IS NULL OR state = 'sent')
);

CREATE INDEX cancellations_due ON cancellations (due_at, id)
    WHERE state IN ('waiting-delay', 'retrying', 'maintenance-paused');
CREATE INDEX cancellations_new ON cancellations (id) WHERE state = 'pending';
CREATE INDEX cancellations_in_flight ON cancellations (owner, id) WHERE state = 'sent';
CREATE INDEX cancellations_unfinished ON cancellations (id)
    WHERE state IN ('pending', 'waiting-delay', 'sent', 'retrying', 'maintenance-paused');
CREATE INDEX cancellations_state ON cancellations (state, updated_at);
CREATE INDEX cancellations_created ON cancellations (created_at);

CREATE TABLE cancellation_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cancellation_id  bigint NOT NULL
        CONSTRAINT attempts_keep_their_job REFERENCES cancellations (id) ON DELETE RESTRICT,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    started_at       double precision NOT NULL,
    completed_at     double precision,
    http_status      integer,
    result_status    text,
    result_code      text,
    error            text,
    counted          boolean,
    -- Which daemon sent it (--node-name).
    node             text,
    CONSTRAINT attempt_number_unique_per_cancellation UNIQUE (cancellation_id, attempt)
);

-- Jobs rescued after their daemon died (status counts today's).
CREATE INDEX cancellation_attempts_outcome_unknown ON cancellation_attempts (completed_at)
    WHERE result_status IS NULL AND error LIKE 'outcome unknown%';

-- An application sets order_number and paid_at; everything else is the daemon's.
CREATE FUNCTION cancellations_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    generated bigint;
BEGIN
    BEGIN
        generated := currval(pg_get_serial_sequence('cancellations', 'id'));
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        generated := NULL;
    END;
    -- With OVERRIDING SYSTEM VALUE the sequence was not advanced for this row.
    IF generated IS DISTINCT FROM NEW.id OR NEW.state <> 'pending' OR NEW.attempt_count <> 0
        OR NEW.request_count <> 0 OR NEW.interruptions <> 0 OR NEW.due_at IS NOT NULL
        OR NEW.outcome IS NOT NULL OR NEW.last_status IS NOT NULL OR NEW.last_code IS NOT NULL
        OR NEW.last_error IS NOT NULL OR NEW.owner IS NOT NULL
        OR abs(NEW.created_at - cancelq_now()) > 1 OR abs(NEW.updated_at - cancelq_now()) > 1 THEN
        RAISE EXCEPTION 'insert_sets_only_order_number_and_paid_at: an application inserts INSERT INTO cancellations(order_number, paid_at); state, times, counts and outcome are the daemon''s'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'insert_sets_only_order_number_and_paid_at';
    END IF;
    -- Milliseconds instead of seconds is the common mistake: 1.8e12 is the year 59000.
    IF NEW.paid_at <> 'NaN'::double precision AND NEW.paid_at > cancelq_now() + 300 THEN
        RAISE EXCEPTION 'paid_at_must_not_be_in_the_future: paid_at is more than 5 minutes ahead of the database clock; it takes unix SECONDS (milliseconds by mistake?)'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'paid_at_must_not_be_in_the_future';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER cancellations_insert_sets_only_order_number_and_paid_at
BEFORE INSERT ON cancellations FOR EACH ROW EXECUTE FUNCTION cancellations_insert_guard();

-- What the audit trail and the delay rest on never changes once queued; a job becomes withdrawn only
-- through a withdrawal row and before a request has left, and stays withdrawn.
CREATE FUNCTION cancellations_identity_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.state = 'withdrawn' THEN
            RAISE EXCEPTION 'cancellations: a withdrawn job is part of the audit trail and cannot be deleted'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'withdrawn_are_never_deleted';
        END IF;
        RETURN OLD;
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.order_number IS DISTINCT FROM OLD.order_number
        OR NEW.paid_at IS DISTINCT FROM OLD.paid_at OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'cancellations: id, order_number, paid_at and created_at never change once queued'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'identity_and_times_are_immutable';
    END IF;
    IF NEW.state = 'withdrawn' AND OLD.state <> 'withdrawn'
        AND (OLD.state NOT IN ('pending', 'waiting-delay', 'retrying', 'maintenance-paused')
             OR NOT EXISTS (SELECT 1 FROM cancellation_withdrawals WHERE order_number = OLD.order_number)) THEN
        RAISE EXCEPTION 'withdraw_by_insert: a job is withdrawn by INSERT INTO cancellation_withdrawals(order_number, reason), and only before a request has left'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'withdraw_by_insert';
    END IF;
    IF OLD.state = 'withdrawn' AND NEW.state <> 'withdrawn' THEN
        RAISE EXCEPTION 'withdrawn_is_final: a withdrawn job is never sent; queue a new cancellation only if the order really must be cancelled'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'withdrawn_is_final';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER cancellations_identity_and_times_are_immutable
BEFORE UPDATE OR DELETE ON cancellations FOR EACH ROW EXECUTE FUNCTION cancellations_identity_guard();

-- An application takes back a queued cancellation before any request for it has left:
-- INSERT INTO cancellation_withdrawals(order_number, reason). The job becomes withdrawn in the same
-- transaction, or the insert fails with a named error when it is too late or the order is unknown.
CREATE TABLE cancellation_withdrawals (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_number  text NOT NULL,
    reason        text
        CONSTRAINT withdrawal_reason_at_most_1000_bytes CHECK (reason IS NULL OR octet_length(reason) <= 1000),
    at            double precision NOT NULL DEFAULT cancelq_now()
);

CREATE INDEX cancellation_withdrawals_order ON cancellation_withdrawals (order_number);

CREATE FUNCTION cancellation_withdrawals_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    generated bigint;
    job_state text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'cancellation_withdrawals: withdrawals are part of the audit trail and cannot be changed or deleted'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'withdrawals_are_append_only';
    END IF;
    BEGIN
        generated := currval(pg_get_serial_sequence('cancellation_withdrawals', 'id'));
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        generated := NULL;
    END;
    IF generated IS DISTINCT FROM NEW.id OR abs(NEW.at - cancelq_now()) > 1 THEN
        RAISE EXCEPTION 'withdrawal_insert_sets_only_order_number_and_reason: an application inserts INSERT INTO cancellation_withdrawals(order_number, reason)'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'withdrawal_insert_sets_only_order_number_and_reason';
    END IF;
    -- The job's row lock: a daemon's claim holding it commits first, and then its `sent` is seen
    -- here; or this withdrawal commits first, and the daemon's claim skips the row. One winner.
    SELECT state INTO job_state FROM cancellations WHERE order_number = NEW.order_number FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'withdrawal_order_unknown: no cancellation with this order_number is queued; nothing was withdrawn'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'withdrawal_order_unknown';
    END IF;
    IF job_state = 'sent' THEN
        RAISE EXCEPTION 'withdrawal_too_late_request_in_flight: a request for this order has already left and waits for its answer; nothing was withdrawn'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'withdrawal_too_late_request_in_flight';
    END IF;
    IF job_state IN ('succeeded', 'failed', 'withdrawn') THEN
        RAISE EXCEPTION 'withdrawal_too_late_job_final: this order''s cancellation is already final (succeeded, failed or withdrawn); nothing was withdrawn'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'withdrawal_too_late_job_final';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER cancellation_withdrawals_checked
BEFORE INSERT OR UPDATE OR DELETE ON cancellation_withdrawals FOR EACH ROW EXECUTE FUNCTION cancellation_withdrawals_guard();
CREATE TRIGGER cancellation_withdrawals_never_truncated
BEFORE TRUNCATE ON cancellation_withdrawals FOR EACH STATEMENT EXECUTE FUNCTION cancellation_withdrawals_guard();

CREATE FUNCTION cancellation_withdrawals_withdraw() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cancellations SET state = 'withdrawn', outcome = 'withdrawn', due_at = NULL, updated_at = NEW.at
    WHERE order_number = NEW.order_number;
    RETURN NULL;
END $$;

CREATE TRIGGER cancellation_withdrawals_withdraw_the_job
AFTER INSERT ON cancellation_withdrawals FOR EACH ROW EXECUTE FUNCTION cancellation_withdrawals_withdraw();

-- The audit trail is append-only: an answered attempt never changes, no attempt is deleted.
CREATE FUNCTION cancellation_attempts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.completed_at IS NOT NULL THEN
            RAISE EXCEPTION 'cancellation_attempts: a completed attempt is part of the audit trail and cannot be changed'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'completed_attempts_are_immutable';
        END IF;
        IF NEW.cancellation_id IS DISTINCT FROM OLD.cancellation_id OR NEW.attempt IS DISTINCT FROM OLD.attempt
            OR NEW.started_at IS DISTINCT FROM OLD.started_at THEN
            RAISE EXCEPTION 'cancellation_attempts: an attempt''s job, number and start never change'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'completed_attempts_are_immutable';
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'cancellation_attempts: attempts are part of the audit trail and cannot be deleted'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'attempts_are_never_deleted';
END $$;

CREATE TRIGGER cancellation_attempts_are_append_only
BEFORE UPDATE OR DELETE ON cancellation_attempts FOR EACH ROW EXECUTE FUNCTION cancellation_attempts_guard();
CREATE TRIGGER cancellation_attempts_are_never_truncated
BEFORE TRUNCATE ON cancellation_attempts FOR EACH STATEMENT EXECUTE FUNCTION cancellation_attempts_guard();

-- Jobs per state for `status` in constant time. Each connection counts into its own slot, so that
-- several daemons and applications do not queue behind one hot row; status sums the slots.
CREATE TABLE cancellation_state_counts (
    state  text NOT NULL,
    slot   integer NOT NULL,
    jobs   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (state, slot)
);

INSERT INTO cancellation_state_counts (state, slot, jobs)
SELECT s.state, 0, 0
FROM unnest(ARRAY['pending', 'waiting-delay', 'sent', 'succeeded', 'failed', 'retrying',
                  'maintenance-paused', 'withdrawn']) AS s(state);

-- Kept per statement, from its transition tables: an application's bulk insert of a million rows adds
-- one count per state, not a million updates of one row.
CREATE FUNCTION cancellation_state_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    my_slot integer := pg_backend_pid() % 16;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cancellation_state_counts AS c (state, slot, jobs)
        SELECT state, my_slot, count(*) FROM new_rows GROUP BY state
        ON CONFLICT (state, slot) DO UPDATE SET jobs = c.jobs + EXCLUDED.jobs;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO cancellation_state_counts AS c (state, slot, jobs)
        SELECT changed.state, my_slot, sum(changed.delta) FROM (
            SELECT o.state, -1 AS delta FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.state IS DISTINCT FROM n.state
            UNION ALL
            SELECT n.state, 1 AS delta FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.state IS DISTINCT FROM n.state
        ) AS changed GROUP BY changed.state
        ON CONFLICT (state, slot) DO UPDATE SET jobs = c.jobs + EXCLUDED.jobs;
    ELSE
        INSERT INTO cancellation_state_counts AS c (state, slot, jobs)
        SELECT state, my_slot, -count(*) FROM old_rows GROUP BY state
        ON CONFLICT (state, slot) DO UPDATE SET jobs = c.jobs + EXCLUDED.jobs;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER cancellation_state_counts_on_insert
AFTER INSERT ON cancellations REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION cancellation_state_counts_keep();
CREATE TRIGGER cancellation_state_counts_on_update
AFTER UPDATE ON cancellations REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION cancellation_state_counts_keep();
CREATE TRIGGER cancellation_state_counts_on_delete
AFTER DELETE ON cancellations REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION cancellation_state_counts_keep();

-- Sending as a whole, for every daemon: open, paused for maintenance, halted for rejected
-- credentials. probe_owner holds the one maintenance probe of the cluster while it is in flight.
CREATE TABLE sending_gate (
    id                  integer PRIMARY KEY CHECK (id = 1),
    mode                text NOT NULL DEFAULT 'open' CHECK (mode IN ('open', 'paused', 'halted', 'held')),
    paused_until        double precision,
    maintenance_streak  integer NOT NULL DEFAULT 0 CHECK (maintenance_streak >= 0),
    reason              text,
    code                text,
    since               double precision,
    probe_owner         text,
    probe_job           bigint,
    probe_until         double precision,
    updated_at          double precision NOT NULL DEFAULT cancelq_now(),
    -- A surge hold: what was counted, against which limit, from when; the last approval.
    hold_enqueued       integer CHECK (hold_enqueued IS NULL OR hold_enqueued >= 0),
    hold_above          integer CHECK (hold_above IS NULL OR hold_above >= 1),
    hold_window         double precision CHECK (hold_window IS NULL OR hold_window > 0),
    hold_counted_from   double precision,
    approved_at         double precision
);

INSERT INTO sending_gate (id) VALUES (1);

-- The gate's one row holds a halt, a pause or a surge hold for the whole cluster: deleting it would
-- release them all without an approval or a record.
CREATE FUNCTION sending_gate_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sending_gate: the gate''s row is never deleted; `cancelq resume` or `cancelq approve` change it, with a record'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'sending_gate_is_never_deleted';
END $$;

CREATE TRIGGER sending_gate_is_never_deleted
BEFORE DELETE ON sending_gate FOR EACH ROW EXECUTE FUNCTION sending_gate_guard();
CREATE TRIGGER sending_gate_never_truncated
BEFORE TRUNCATE ON sending_gate FOR EACH STATEMENT EXECUTE FUNCTION sending_gate_guard();

-- Operator actions (requeue, resume, …) for the audit trail.
CREATE TABLE operator_actions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               double precision NOT NULL,
    action           text NOT NULL,
    cancellation_id  bigint REFERENCES cancellations (id),
    detail           text,
    -- The login behind sudo, else the user.
    operator         text
);

CREATE FUNCTION operator_actions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'operator_actions: operator actions are part of the audit trail and cannot be changed or deleted'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'operator_actions_are_append_only';
END $$;

CREATE TRIGGER operator_actions_are_append_only
BEFORE UPDATE OR DELETE ON operator_actions FOR EACH ROW EXECUTE FUNCTION operator_actions_guard();
CREATE TRIGGER operator_actions_never_truncated
BEFORE TRUNCATE ON operator_actions FOR EACH STATEMENT EXECUTE FUNCTION operator_actions_guard();

-- The daemons sharing the queue: each heartbeats; a daemon whose heartbeat is older than its lease
-- is dead, and any live one rescues its jobs in flight.
CREATE TABLE cancelq_daemons (
    node           text PRIMARY KEY,
    host           text NOT NULL,
    pid            integer NOT NULL,
    started_at     double precision NOT NULL,
    heartbeat_at   double precision NOT NULL,
    lease_seconds  double precision NOT NULL CHECK (lease_seconds > 0),
    in_flight      integer NOT NULL DEFAULT 0,
    -- A token written by each of its commits: after a connection dropped during COMMIT, the daemon
    -- reads it back to learn whether that commit happened.
    last_commit    text
);

-- Wakes the daemons (LISTEN cancelq_changes) on an insert, and on a change of the gate.
CREATE FUNCTION cancelq_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cancelq_changes', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE TRIGGER cancellations_notify_insert
AFTER INSERT ON cancellations FOR EACH STATEMENT EXECUTE FUNCTION cancelq_notify_change();
CREATE TRIGGER sending_gate_notify_change
AFTER UPDATE ON sending_gate FOR EACH ROW
WHEN (OLD.mode IS DISTINCT FROM NEW.mode OR OLD.paused_until IS DISTINCT FROM NEW.paused_until)
EXECUTE FUNCTION cancelq_notify_change();
