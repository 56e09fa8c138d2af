# Start and stop a throwaway PostgreSQL cluster on a Unix socket in a temporary folder (no TCP port).
# `start_postgres` exports MIXSEARCH_TEST_POSTGRES, the URL the tests use; `stop_postgres` removes everything.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
    if [ -z "$PG_BIN" ]; then
        echo "PostgreSQL is not installed: the distributed-search tests will be skipped" >&2
        return 0
    fi
    PG_DIR=$(mktemp -d /tmp/mixsearch-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
    as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
        -o "-k $PG_DIR -c listen_addresses='' -c max_connections=200" start >/dev/null
    as_postgres "$PG_BIN/createdb" -h "$PG_DIR" mixsearch
    export MIXSEARCH_TEST_POSTGRES="postgresql://postgres@/mixsearch?host=$PG_DIR"
}

stop_postgres() {
    if [ -n "${PG_DIR:-}" ]; then
        as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null || true
        rm -rf "$PG_DIR"
    fi
}
