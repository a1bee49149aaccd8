-- One job's write in one round trip: the update of the job, guarded by the state (and owner) the
-- daemon read it in, and its attempt row, undone together when anything refuses them (an
-- exception block is a savepoint inside the server). 'applied' when both were written; 'changed'
-- when the job's row no longer matches (nothing written); 'refused' when a constraint, a trigger
-- or a missing attempt row refused them (nothing written). The daemon redoes a write that was not
-- applied one statement at a time, to learn why and to record its answer aside.
CREATE FUNCTION cancelq_apply_write(
    p_id bigint, p_expected_state text, p_expected_owner text,
    p_state text, p_attempt_count bigint, p_request_count bigint, p_due_at double precision, p_outcome text,
    p_last_status text, p_last_code text, p_last_error text, p_now double precision, p_interruptions bigint,
    p_owner text, p_attempt_kind text, p_attempt bigint, p_attempt_at double precision, p_http_status bigint,
    p_result_status text, p_result_code text, p_error text, p_counted boolean, p_node text
) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cancellations SET state = p_state, attempt_count = p_attempt_count, request_count = p_request_count,
        due_at = p_due_at, outcome = p_outcome, last_status = p_last_status, last_code = p_last_code,
        last_error = p_last_error, updated_at = p_now, interruptions = p_interruptions, owner = p_owner
    WHERE id = p_id AND state = p_expected_state AND owner IS NOT DISTINCT FROM p_expected_owner;
    IF NOT FOUND THEN
        RETURN 'changed';
    END IF;
    IF p_attempt_kind = 'start' THEN
        INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, node)
        VALUES (p_id, p_attempt, p_attempt_at, p_node);
    ELSIF p_attempt_kind = 'complete' THEN
        UPDATE cancellation_attempts SET completed_at = p_attempt_at, http_status = p_http_status,
            result_status = p_result_status, result_code = p_result_code, error = p_error, counted = p_counted
        WHERE cancellation_id = p_id AND attempt = p_attempt AND completed_at IS NULL;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'attempt % of job % is missing or already completed', p_attempt, p_id;
        END IF;
    ELSIF p_attempt_kind IS NOT NULL THEN
        RAISE EXCEPTION 'unknown attempt write %', p_attempt_kind;
    END IF;
    RETURN 'applied';
EXCEPTION WHEN OTHERS THEN
    RETURN 'refused';
END
$$;

-- Only the daemons (the tables' owner) write jobs.
REVOKE EXECUTE ON FUNCTION cancelq_apply_write(bigint, text, text, text, bigint, bigint, double precision, text, text, text, text,
    double precision, bigint, text, text, bigint, double precision, bigint, text, text, text, boolean, text) FROM PUBLIC;

-- An application holds INSERT and SELECT only. The triggers its inserts fire do more than that
-- (read the id sequence, lock and withdraw the job, keep the per-state counts), so they run with
-- the owner's rights, on the schema they were made in.
ALTER FUNCTION cancellations_insert_guard() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION cancellation_withdrawals_guard() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION cancellation_withdrawals_withdraw() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION cancellation_state_counts_keep() SECURITY DEFINER SET search_path FROM CURRENT;

-- The record of applied migrations is how `run` knows the schema it works on: only `migrate` adds
-- to it, and nothing edits or removes a line.
CREATE FUNCTION schema_migrations_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'schema_migrations: the record of applied migrations cannot be changed or deleted'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'schema_migrations_are_append_only';
END $$;

CREATE TRIGGER schema_migrations_are_append_only
BEFORE UPDATE OR DELETE ON schema_migrations FOR EACH ROW EXECUTE FUNCTION schema_migrations_guard();
CREATE TRIGGER schema_migrations_never_truncated
BEFORE TRUNCATE ON schema_migrations FOR EACH STATEMENT EXECUTE FUNCTION schema_migrations_guard();
