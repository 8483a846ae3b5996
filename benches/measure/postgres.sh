#!/usr/bin/env bash
# The switch on PostgreSQL against the embedded store (README, "On PostgreSQL"): a private
# PostgreSQL 15 cluster on this machine (fsync and synchronous_commit on, max_connections 400),
# then `loadtest baseline-pg` at 64 and 256 clients (the naive one-transaction-per-redemption
# design, then the switch, on a fresh database each), then the issue's redeem command against
# `switch demo` on a fresh database (`--terminals 256 --pipeline 4 --duration 30s`), the same
# command README's embedded figures use. Run as root (the cluster runs as `postgres`).
#
#   benches/measure/postgres.sh [PORT]   (release binaries built first:
#   cargo build --release -p switch -p loadtest --bins; run it under `quiet`)
set -euo pipefail
PORT=${1:-55432}
B=$(realpath "${BIN:-target/release}")
. "$(dirname "$0")/pg_cluster.sh"
pg_cluster_init pg-measure
pg_cluster_start "$PORT" -c max_connections=400
stop() { pg_cluster_stop; rm -rf "$D"; }
trap stop EXIT
db() { psql -q -h 127.0.0.1 -p "$PORT" -U postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" postgres; }

for clients in 64 256; do
    db bench
    echo "== loadtest baseline-pg --clients $clients --duration 15s"
    "$B/loadtest" baseline-pg --url "postgres://postgres@127.0.0.1:$PORT/bench" --clients "$clients" --duration 15s | tail -6
done

db redeem
export SWITCH_STORE__KIND=postgres SWITCH_STORE__URL="postgres://postgres@127.0.0.1:$PORT/redeem"
"$B/switch" migrate
"$B/switch" demo --citizens 10000 --listen 127.0.0.1:27900 --http 127.0.0.1:27980 >"$D/switch.out" 2>"$D/switch.log" &
PID=$!
until grep -q '^listening ' "$D/switch.out"; do kill -0 $PID || exit 1; sleep 0.1; done
echo "== loadtest redeem --addr 127.0.0.1:27900 --terminals 256 --pipeline 4 --duration 30s (PostgreSQL)"
"$B/loadtest" redeem --addr 127.0.0.1:27900 --terminals 256 --pipeline 4 --duration 30s | tail -8
kill $PID; wait $PID || true
