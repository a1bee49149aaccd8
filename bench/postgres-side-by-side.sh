#!/usr/bin/env bash
# cancelq and a PgQueuer consumer (bench/pgqueuer_peer.py) side by side on one private PostgreSQL 15
# cluster: the same number of jobs, 16 in flight, both sending to the same nginx gateway
# (bench/nginx-success.conf, success at once), and for each the server's CPU per job and rows
# written per job during the drain.
#
#   JOBS=10000 DAEMONS="1 3" bench/postgres-side-by-side.sh [path/to/cancelq]     (default .build/release/cancelq)
#   HISTORY=1000000 ...: each cancelq queue first holds that many finished jobs and three times as
#   many attempts, VACUUM ANALYZEd while all finished (bench/seed-history.sh); PgQueuer's is empty.
#
# Needs PostgreSQL 15 (/usr/lib/postgresql/15/bin, or PG_BIN), nginx (apt-get install -y nginx-light)
# unless something already answers on 127.0.0.1:18443, and `pip install pgqueuer asyncpg aiohttp`.
# Everything it starts (cluster, nginx, the peer) is stopped and removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CANCELQ=$(realpath "${1:-$ROOT/.build/release/cancelq}")
JOBS=${JOBS:-10000}
CONCURRENCY=16
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
GATEWAY=http://127.0.0.1:18443/cgi-bin/secure/api.cgi

[ -x "$CANCELQ" ] || { echo "no cancelq binary at $CANCELQ (build it, or pass its path)" >&2; exit 1; }
python3 -c 'import pgqueuer, asyncpg, aiohttp' 2>/dev/null || { echo "pip install pgqueuer asyncpg aiohttp" >&2; exit 1; }

WORK=$(mktemp -d /tmp/cancelq-side-by-side.XXXXXX)
PEER_PID=""

. "$ROOT/bench/private-cluster.sh"
. "$ROOT/bench/seed-history.sh"

cleanup() {
    set +e
    [ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null && wait "$PEER_PID" 2>/dev/null
    stop_cluster_and_gateway
}
trap cleanup EXIT

# --- the cluster (default durability) and the gateway both contenders send to
start_cluster
"${PSQL[@]}" -d postgres -c "CREATE DATABASE cancelq" -c "CREATE DATABASE peer"
CANCELQ_DB="postgresql://bench@127.0.0.1:$PORT/cancelq"
PEER_DB="postgresql://bench@127.0.0.1:$PORT/peer"
start_gateway

# CPU seconds of the postmaster and all its children, exited ones included (the postmaster reaps
# them: their time is in its cutime+cstime); scanned again if a child was reaped meanwhile.
server_cpu() {
    local before after total
    while :; do
        before=$(awk '{print $16 + $17}' "/proc/$POSTMASTER/stat")
        # Through cat: mawk stops at the first file that is gone (a process that just exited).
        total=$(cat /proc/[0-9]*/stat 2>/dev/null |
            awk -v pm="$POSTMASTER" '$1 == pm || $4 == pm { t += $14 + $15 + $16 + $17 } END { print t + 0 }') || true
        after=$(awk '{print $16 + $17}' "/proc/$POSTMASTER/stat")
        [ "$before" = "$after" ] && break
    done
    awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

# Inserts+updates+deletes in a database's tables once every backend's statistics are in (they are
# flushed lazily, and when a backend exits): read every 0.5 s until unchanged, at most ~5 s.
rows_written() {
    local last now
    last=$("${PSQL[@]}" -d "$1" -c "SELECT pg_stat_clear_snapshot()" \
        -c "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables")
    for _ in $(seq 10); do
        sleep 0.5
        now=$("${PSQL[@]}" -d "$1" -c "SELECT pg_stat_clear_snapshot()" \
            -c "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables")
        [ "$now" = "$last" ] && break
        last=$now
    done
    echo "$last"
}

echo "== PostgreSQL $("${PSQL[@]}" -d postgres -c 'SHOW server_version') on port $PORT (default durability), $JOBS jobs, $CONCURRENCY in flight"
echo
echo "== cancelq ($CANCELQ, nginx at $GATEWAY)"
# One empty database per daemon count (DAEMONS="1 3" measures one and three daemons).
for daemons in ${DAEMONS:-1}; do
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS cancelq WITH (FORCE)" -c "CREATE DATABASE cancelq" >/dev/null
    "$CANCELQ" migrate --db "$CANCELQ_DB" >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; exit 1; }
    if [ "${HISTORY:-0}" -gt 0 ]; then
        echo "   (the queue first holds $HISTORY finished jobs and $((HISTORY * 3)) attempts, VACUUM ANALYZEd)"
        seed_history PSQL cancelq "$HISTORY" >/dev/null
    fi
    "$CANCELQ" bench postgres --db "$CANCELQ_DB" --jobs "$JOBS" --daemons "$daemons" --concurrency "$CONCURRENCY" --endpoint "$GATEWAY"
done
echo

echo "== PgQueuer $(python3 -c 'import pgqueuer; print(pgqueuer.__version__)') (bench/pgqueuer_peer.py, nginx at $GATEWAY)"
# The peer enqueues, then waits for its ready file to go: the measurements cover its drain only.
python3 "$ROOT/bench/pgqueuer_peer.py" --dsn "$PEER_DB" --jobs "$JOBS" --concurrency "$CONCURRENCY" --url "$GATEWAY" \
    --ready-file "$WORK/peer-ready" &
PEER_PID=$!
while [ ! -f "$WORK/peer-ready" ]; do
    kill -0 "$PEER_PID" 2>/dev/null || { wait "$PEER_PID"; exit 1; }
    sleep 0.1
done
ROWS_BEFORE=$(rows_written peer)
CPU_BEFORE=$(server_cpu)
rm "$WORK/peer-ready"
wait "$PEER_PID"
PEER_PID=""
CPU_AFTER=$(server_cpu)
ROWS_AFTER=$(rows_written peer)
awk -v b="$CPU_BEFORE" -v a="$CPU_AFTER" -v n="$JOBS" \
    'BEGIN { printf "  server CPU/job    %.1f µs (PostgreSQL'"'"'s processes together: %.2f s user+system)\n", (a - b) / n * 1e6, a - b }'
awk -v b="$ROWS_BEFORE" -v a="$ROWS_AFTER" -v n="$JOBS" \
    'BEGIN { printf "  rows written/job  %.1f (inserts+updates+deletes in pg_stat_user_tables)\n", (a - b) / n }'
