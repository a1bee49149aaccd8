#!/usr/bin/env bash
# Where the server's time goes during a drain: one daemon drains JOBS jobs (16 in flight, nginx
# answering success at once, bench/nginx-success.conf) on a private PostgreSQL 15 cluster with
# pg_stat_statements, then every statement the daemon ran is listed with its calls per job, rows
# per call and time per job, the costliest first.
#
#   JOBS=10000 bench/postgres-statements.sh [path/to/cancelq]     (default .build/release/cancelq)
#
# Needs PostgreSQL 15 (/usr/lib/postgresql/15/bin, or PG_BIN) and nginx (apt-get install -y
# nginx-light) unless something already answers on 127.0.0.1:18443. Everything it starts is stopped
# and removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CANCELQ=$(realpath "${1:-$ROOT/.build/release/cancelq}")
JOBS=${JOBS:-10000}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
GATEWAY=http://127.0.0.1:18443/cgi-bin/secure/api.cgi
[ -x "$CANCELQ" ] || { echo "no cancelq binary at $CANCELQ (build it, or pass its path)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/cancelq-statements.XXXXXX)
. "$ROOT/bench/private-cluster.sh"
cleanup() {
    set +e
    stop_cluster_and_gateway
}
trap cleanup EXIT

start_cluster "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE cancelq"
DB="postgresql://bench@127.0.0.1:$PORT/cancelq"
"$CANCELQ" migrate --db "$DB" >/dev/null
# In a schema of its own, after the migration: cancelq's schema holds cancelq's tables only.
"${PSQL[@]}" -d cancelq -c "CREATE SCHEMA stats" -c "CREATE EXTENSION pg_stat_statements SCHEMA stats"

start_gateway

"${PSQL[@]}" -d cancelq -c "SELECT stats.pg_stat_statements_reset()" >/dev/null
"$CANCELQ" bench postgres --db "$DB" --jobs "$JOBS" --pickups 0 --endpoint "$GATEWAY"
echo "== statements of the drain (pg_stat_statements; the benchmark's own setup included), costliest first"
"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U bench -d cancelq -P pager=off -c "
    SELECT round(total_exec_time::numeric * 1000 / $JOBS, 1) AS \"µs/job\",
           round(calls::numeric / $JOBS, 3) AS \"calls/job\",
           round(rows::numeric / greatest(calls, 1), 1) AS \"rows/call\",
           left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS statement
    FROM stats.pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'cancelq')
    ORDER BY total_exec_time DESC LIMIT 25"
"${PSQL[@]}" -d cancelq -c "
    SELECT 'all statements: ' || round(sum(calls)::numeric / $JOBS, 2) || ' calls and '
        || round(sum(total_exec_time)::numeric * 1000 / $JOBS, 1) || ' µs of execution per job'
    FROM stats.pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'cancelq')"
