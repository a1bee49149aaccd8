-- No bypass, round two (issue 18): the owner's trigger functions never resolve a name in pg_temp,
-- a duplicate is a named error whatever the conflict clause, and a job whose last request may have
-- reached the gateway cannot be withdrawn.

-- 1. Names resolve in the queue's schema, never in pg_temp. A function whose search_path does not
-- name pg_temp searches it FIRST for tables: an application's `CREATE TEMP TABLE cancellations`
-- received the writes of the owner's trigger functions (a withdrawal recorded for a job in flight,
-- falsified counts). For this migration's transaction the search_path is the queue's schema, then
-- pg_temp; every function below takes it with `SET search_path FROM CURRENT` (the schema check
-- expects exactly that value and restores it).
SELECT set_config('search_path', quote_ident(current_schema()) || ', pg_temp', true);

-- 2. An order already queued is refused by name whatever the conflict clause: `ON CONFLICT DO
-- NOTHING` hid the duplicate, and an application could not tell its insert from the earlier one.
-- The unique constraint stays for two inserts racing (each is then refused by the other's index).
CREATE OR REPLACE FUNCTION cancellations_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
    -- Before the conflict clause is looked at: BEFORE triggers run ahead of ON CONFLICT's check.
    IF EXISTS (SELECT 1 FROM cancellations WHERE order_number = NEW.order_number) THEN
        RAISE EXCEPTION 'order_number_already_enqueued: this order is already queued and is never replaced (OR IGNORE, OR REPLACE and ON CONFLICT included); insert it only WHERE NOT EXISTS, or read its row; nothing was inserted'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'order_number_already_enqueued';
    END IF;
    RETURN NEW;
END $$;

-- 3. A job whose earlier request may have reached the gateway is not withdrawn: a rescued job, a
-- restart's recovery, a timeout, a reset or any completed attempt without the gateway's answer,
-- except a refused connection (the one failure in which the request provably never left). Its
-- next request goes; the gateway answers "already cancelled" if the first one went through.
CREATE OR REPLACE FUNCTION cancellation_withdrawals_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    generated bigint;
    job_id bigint;
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
    SELECT id, state INTO job_id, job_state FROM cancellations WHERE order_number = NEW.order_number FOR UPDATE;
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
    -- Attempts are completed under the job's lock, which this withdrawal now holds.
    IF EXISTS (SELECT 1 FROM cancellation_attempts WHERE cancellation_id = job_id AND completed_at IS NOT NULL
               AND result_status IS NULL AND error IS DISTINCT FROM 'connection refused'
               AND coalesce(error, '') NOT LIKE 'not sent: %') THEN
        RAISE EXCEPTION 'withdrawal_too_late_outcome_unknown: an earlier request for this order may have reached the gateway (no definite answer came back); the job goes on until the gateway answers; nothing was withdrawn'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'withdrawal_too_late_outcome_unknown';
    END IF;
    RETURN NEW;
END $$;

-- The functions an application's statements reach run with the owner's rights (CREATE OR REPLACE
-- above reset them) and, like every function of cancelq's that names a table, on the search_path
-- set at the top. cancelq_now() names no table (pg_catalog is searched first) and stays as it is:
-- a setting would cost every default of every inserted row.
ALTER FUNCTION cancellations_insert_guard() SECURITY DEFINER;
ALTER FUNCTION cancellation_withdrawals_guard() SECURITY DEFINER;
ALTER FUNCTION cancellations_insert_guard() SET search_path FROM CURRENT;
ALTER FUNCTION cancellations_identity_guard() SET search_path FROM CURRENT;
ALTER FUNCTION cancellation_withdrawals_guard() SET search_path FROM CURRENT;
ALTER FUNCTION cancellation_withdrawals_withdraw() SET search_path FROM CURRENT;
ALTER FUNCTION cancellation_attempts_guard() SET search_path FROM CURRENT;
ALTER FUNCTION cancellation_state_counts_keep() SET search_path FROM CURRENT;
ALTER FUNCTION sending_gate_guard() SET search_path FROM CURRENT;
ALTER FUNCTION operator_actions_guard() SET search_path FROM CURRENT;
ALTER FUNCTION cancelq_notify_change() SET search_path FROM CURRENT;
ALTER FUNCTION schema_migrations_guard() SET search_path FROM CURRENT;
ALTER FUNCTION cancelq_apply_write(bigint, text, text, text, bigint, bigint, double precision, text, text, text, text,
    double precision, bigint, text, text, bigint, double precision, bigint, text, text, text, boolean, text) SET search_path FROM CURRENT;
