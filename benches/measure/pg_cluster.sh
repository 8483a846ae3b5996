# Sourced by the PostgreSQL measurements (postgres.sh, postgres_cpu.sh, settlement_pg.sh): a
# private PostgreSQL 15 cluster in a fresh /tmp directory, fsync and synchronous_commit on (the
# defaults), listening on loopback only.
PG=/usr/lib/postgresql/15/bin

# pg_cluster_init NAME: a new cluster's directory in $D (initdb'd, not started).
pg_cluster_init() {
    D=$(mktemp -d "/tmp/$1.XXXXXX")
    chown postgres:postgres "$D"; chmod 700 "$D"
    runuser -u postgres -- $PG/initdb -D "$D/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
}

# pg_cluster_start PORT [SERVER_OPTIONS...]: starts the cluster in $D on 127.0.0.1:PORT.
pg_cluster_start() {
    local port=$1; shift
    runuser -u postgres -- $PG/pg_ctl -D "$D/data" -l "$D/server.log" -w \
        -o "-p $port -k $D -c listen_addresses=127.0.0.1 $*" start >/dev/null
}

# pg_cluster_stop: stops it (quietly, whatever state it is in).
pg_cluster_stop() { runuser -u postgres -- $PG/pg_ctl -D "$D/data" -m fast -w stop >/dev/null 2>&1 || true; }
