#!/usr/bin/env bash
# Every statement the daemon runs, checked with EXPLAIN ANALYZE (auto_explain, nested statements of
# functions and triggers included) against a long history whose statistics say nothing is waiting:
# 1,000,000 finished jobs and 3,000,000 attempts, VACUUM ANALYZEd while all finished, then 10,000 jobs
# enqueued the way an application does (not analyzed again) and drained by one `cancelq run`.
# A statement fails on a Seq Scan of cancellations or cancellation_attempts, on an index node there
# that examines more than 10x (and more than 1,000 rows more than) what the statement returns, or on
# a Sort of more than 10,000 rows (bench/postgres_plans.py). Exits 1 when any statement fails.
#
#   bench/postgres-plans.sh [path/to/cancelq]      (default .build/debug/cancelq, copied first)
#   HISTORY=1000000 NEW_JOBS=10000 CONCURRENCY=16 KEEP_LOG=/tmp/plans.log bench/postgres-plans.sh
#
# Needs PostgreSQL 15 (/usr/lib/postgresql/15/bin, or PG_BIN) and python3. Everything it starts (the
# cluster, the gateway simulator) is stopped and its directory removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SOURCE_BIN=$(realpath "${1:-$ROOT/.build/debug/cancelq}")
HISTORY=${HISTORY:-1000000}
NEW_JOBS=${NEW_JOBS:-10000}
CONCURRENCY=${CONCURRENCY:-16}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

[ -x "$SOURCE_BIN" ] || { echo "no cancelq binary at $SOURCE_BIN (build it, or pass its path)" >&2; exit 1; }
[ -x "$PG_BIN/postgres" ] || { echo "no PostgreSQL at $PG_BIN (set PG_BIN)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/cancelq-plans.XXXXXX)
SIM_PID=""
DAEMON_PID=""

# The binary may be rebuilt while this runs: a private copy.
CANCELQ="$WORK/cancelq"
cp "$SOURCE_BIN" "$CANCELQ"

. "$ROOT/bench/seed-history.sh"

# initdb and postgres refuse to run as root: as root the cluster belongs to the postgres user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
    set +e
    [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
    [ -f "$WORK/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null
    [ -n "${KEEP_LOG:-}" ] && [ -f "$WORK/plans.log" ] && cp "$WORK/plans.log" "$KEEP_LOG"
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- the cluster: auto_explain logs every statement's plan with ANALYZE and BUFFERS, as JSON, into
# the file pg_ctl sends the server's stderr to.
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$PG_BIN/initdb" -D "$WORK/data" -U postgres -A trust >"$WORK/initdb.log"
cat >>"$WORK/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
logging_collector = off
log_destination = 'stderr'
shared_preload_libraries = 'auto_explain'
auto_explain.log_min_duration = 0
auto_explain.log_analyze = on
auto_explain.log_buffers = on
auto_explain.log_nested_statements = on
auto_explain.log_format = json
max_wal_size = '4GB'
EOF
as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w start >/dev/null
# The script's own sessions (seeding, enqueueing, checks) are not explained.
export PGOPTIONS="-c auto_explain.log_min_duration=-1"
PSQL=("$PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE cancelq"
DB="postgresql://postgres@127.0.0.1:$PORT/cancelq?sslmode=disable"
echo "== PostgreSQL $("${PSQL[@]}" -d postgres -c 'SHOW server_version') on port $PORT, cancelq $SOURCE_BIN"

"$CANCELQ" migrate --db "$DB" >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; exit 1; }

# --- the history (bench/seed-history.sh), VACUUM ANALYZEd while all finished
echo "== seeding $HISTORY finished jobs and $((HISTORY * 3)) attempts"
SEED_START=$(date +%s.%N)
seed_history PSQL cancelq "$HISTORY"
SEED_END=$(date +%s.%N)
awk -v a="$SEED_START" -v b="$SEED_END" 'BEGIN { printf "   seeded and VACUUM ANALYZEd in %.1f s\n", b - a }'
"${PSQL[@]}" -d cancelq -F ' ' -c "
    SELECT '   statistics: cancellations ' || reltuples::bigint || ' rows, states '
           || (SELECT string_agg(v, ',') FROM unnest((SELECT most_common_vals::text::text[] FROM pg_stats
               WHERE tablename = 'cancellations' AND attname = 'state')) v)
    FROM pg_class WHERE relname = 'cancellations'"

# --- the backlog, as an application enqueues it; not analyzed.
"${PSQL[@]}" -d cancelq -c "INSERT INTO cancellations(order_number, paid_at)
    SELECT 'N-' || i, extract(epoch FROM now()) - 60 FROM generate_series(1, $NEW_JOBS) i"
echo "== enqueued $NEW_JOBS jobs (not analyzed)"

# index name -> table, for Bitmap Index Scan nodes (they name no relation).
"${PSQL[@]}" -d cancelq -c "SELECT json_object_agg(indexname, tablename) FROM pg_indexes WHERE schemaname = current_schema()" \
    >"$WORK/index-map.json"

# --- the gateway simulator and the drain
printf 'demo-key' >"$WORK/key"
chmod 600 "$WORK/key"
"$CANCELQ" gateway-sim --port 0 >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 100); do
    grep -q 'listening on' "$WORK/sim.log" && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.log" >&2; exit 1; }
    sleep 0.1
done
ENDPOINT=$(grep -o 'http://[^ ]*api.cgi' "$WORK/sim.log" | head -1)
[ -n "$ENDPOINT" ] || { echo "the gateway simulator printed no URL" >&2; cat "$WORK/sim.log" >&2; exit 1; }

# Only the daemon's statements from here on: the log starts empty (the server appends to it).
: >"$WORK/postgres.log"
echo "== cancelq run --concurrency $CONCURRENCY --exit-when-idle (gateway simulator at $ENDPOINT)"
DRAIN_START=$(date +%s.%N)
set +e
env -u PGOPTIONS "$CANCELQ" run --db "$DB" --endpoint "$ENDPOINT" --key-file "$WORK/key" --client-ip 12345 \
    --concurrency "$CONCURRENCY" --node-name plans-1 --hold-above 0 --exit-when-idle --log-level notice \
    >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
wait "$DAEMON_PID"
DAEMON_RC=$?
DAEMON_PID=""
set -e
DRAIN_END=$(date +%s.%N)
cp "$WORK/postgres.log" "$WORK/plans.log"
tail -5 "$WORK/daemon.log" | sed 's/^/   daemon: /'
[ "$DAEMON_RC" = 0 ] || { echo "cancelq run exited $DAEMON_RC" >&2; cat "$WORK/daemon.log" >&2; exit 1; }

echo "== after the drain"
"${PSQL[@]}" -d cancelq -F ' ' -c "SELECT '   ' || state, count(*) FROM cancellations GROUP BY state ORDER BY state"
"${PSQL[@]}" -d cancelq -c "
    SELECT '   per-state counts table: ' || CASE WHEN count(*) = 0 THEN 'consistent'
           ELSE 'INCONSISTENT ' || string_agg(state || ' ' || counted || ' vs ' || actual, ', ') END
    FROM (SELECT s.state, coalesce(sum(s.jobs), 0) AS counted, (SELECT count(*) FROM cancellations c WHERE c.state = s.state) AS actual
          FROM cancellation_state_counts s GROUP BY s.state) x WHERE counted <> actual"
UNFINISHED=$("${PSQL[@]}" -d cancelq -c "SELECT count(*) FROM cancellations WHERE order_number LIKE 'N-%' AND state <> 'succeeded'")
awk -v a="$DRAIN_START" -v b="$DRAIN_END" -v n="$NEW_JOBS" \
    'BEGIN { printf "   drain: %d jobs in %.1f s wall, %.1f jobs/s (debug build and auto_explain ANALYZE of every statement: informative only)\n", n, b - a, n / (b - a) }'
echo "   server log examined: $(du -h "$WORK/plans.log" | cut -f1)"
[ "$UNFINISHED" = 0 ] || { echo "$UNFINISHED of the new jobs did not succeed" >&2; exit 1; }
echo

echo "== plans"
python3 "$ROOT/bench/postgres_plans.py" "$WORK/plans.log" --index-map "$WORK/index-map.json"
