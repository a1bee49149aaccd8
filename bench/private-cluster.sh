# Sourced by the PostgreSQL benchmark scripts: a private PostgreSQL 15 cluster in $WORK on a free
# loopback port, and nginx answering success (bench/nginx-success.conf) unless something already
# listens on 127.0.0.1:18443. Expects ROOT, WORK and PG_BIN; sets PORT, PSQL, POSTMASTER and
# NGINX_PREFIX; `stop_cluster_and_gateway` undoes both (call it from the script's EXIT trap).

# initdb and postgres refuse to run as root: as root the cluster belongs to the postgres user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Default settings (fsync, synchronous_commit on) plus "$@" as extra server options.
start_cluster() {
    [ "$(id -u)" = 0 ] && chown postgres "$WORK"
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_pg "$PG_BIN/initdb" -D "$WORK/data" -U bench -A trust >"$WORK/initdb.log"
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w \
        -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 $*" start >/dev/null
    PSQL=("$PG_BIN/psql" -X -q -t -A -h 127.0.0.1 -p "$PORT" -U bench)
    POSTMASTER=$(head -1 "$WORK/data/postmaster.pid")
}

NGINX_PREFIX=""
start_gateway() {
    if ! (exec 3<>/dev/tcp/127.0.0.1/18443) 2>/dev/null; then
        command -v nginx >/dev/null || { echo "nothing on 127.0.0.1:18443 and no nginx: apt-get install -y nginx-light" >&2; exit 1; }
        mkdir -p "$WORK/nginx"
        nginx -p "$WORK/nginx" -c "$ROOT/bench/nginx-success.conf"
        NGINX_PREFIX="$WORK/nginx"
    fi
}

stop_cluster_and_gateway() {
    [ -f "$WORK/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null
    [ -n "$NGINX_PREFIX" ] && nginx -p "$NGINX_PREFIX" -c "$ROOT/bench/nginx-success.conf" -s stop 2>/dev/null
    rm -rf "$WORK"
}
