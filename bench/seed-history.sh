# Sourced by the PostgreSQL benchmark scripts: `seed_history PSQL_ARRAY_NAME DATABASE JOBS` writes a
# long, finished history into a migrated cancelq database: JOBS jobs that succeeded over the last
# 30 days, three completed attempts each (two refusals, then the confirmation), past the triggers
# (session_replication_role = replica), the per-state counts adjusted by hand; then VACUUM ANALYZE,
# so that the planner's statistics say nothing is waiting.
seed_history() {
    local -n psql_command=$1
    local database=$2 jobs=$3
    "${psql_command[@]}" -v ON_ERROR_STOP=1 -d "$database" <<EOSQL
SET session_replication_role = replica;
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET work_mem = '256MB';
BEGIN;
-- 30 days ago onwards, one job every 2 s: the last one finished about a week ago.
INSERT INTO cancellations(order_number, paid_at, state, attempt_count, request_count, outcome, last_status,
                          last_code, created_at, updated_at)
SELECT 'H-' || i, t0 + i * 2, 'succeeded', 2, 3, 'cancelled', 'success', '000', t0 + i * 2 + 1, t0 + i * 2 + 41
FROM generate_series(1, $jobs) i, (SELECT extract(epoch FROM now())::double precision - 30 * 86400 AS t0) t;
INSERT INTO cancellation_attempts(cancellation_id, attempt, started_at, completed_at, http_status, result_status,
                                  result_code, error, counted, node)
SELECT c.id, k, c.created_at + 10 + (k - 1) * 15, c.created_at + 10.5 + (k - 1) * 15, 200,
       CASE k WHEN 3 THEN 'success' ELSE 'failure' END, CASE k WHEN 3 THEN '000' ELSE '02189999' END, NULL,
       k < 3, 'history'
FROM cancellations c CROSS JOIN generate_series(1, 3) k
ORDER BY c.id, k;
UPDATE cancellation_state_counts SET jobs = jobs + $jobs WHERE state = 'succeeded' AND slot = 0;
COMMIT;
RESET session_replication_role;
EOSQL
    "${psql_command[@]}" -d "$database" -c "VACUUM ANALYZE"
}
