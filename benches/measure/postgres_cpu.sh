#!/usr/bin/env bash
# Where the switch on PostgreSQL spends its time (README, "On PostgreSQL"): a private
# PostgreSQL 15 cluster as benches/measure/postgres.sh starts it (fsync and synchronous_commit
# on), with pg_stat_statements loaded, `switch demo --citizens 10000` on a fresh database, then
# the issue's redeem load for DURATION; around it, each switch thread's CPU and each PostgreSQL
# process's (backends, WAL writer, checkpointer ...) from /proc, the generator's, and
# PostgreSQL's own counters: WAL records, full-page images, bytes and fsyncs (pg_stat_wal),
# commits, and the statements by total time (pg_stat_statements). Every figure is also divided
# by the redemptions acknowledged.
#
#   benches/measure/postgres_cpu.sh [DURATION] [PORT] [EXTRA_POSTGRES_OPTIONS]   (run as root,
#   under `quiet`; release binaries built first: cargo build --release -p switch -p loadtest --bins)
#   KEEP_LOG=FILE keeps PostgreSQL's log (e.g. with auto_explain in EXTRA_POSTGRES_OPTIONS).
#   PERF=SECONDS also samples the PostgreSQL processes with `perf record` for that long, from 3 s
#   into the load, and prints their top symbols.
set -euo pipefail
DURATION=${1:-20s}
PORT=${2:-55434}
EXTRA=${3:-}
B=$(realpath "${BIN:-target/release}")
. "$(dirname "$0")/pg_cluster.sh"
pg_cluster_init pg-cpu
PID=
stop() {
    set +e
    [ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
    pg_cluster_stop
    [ -n "${KEEP_LOG:-}" ] && cp "$D/server.log" "$KEEP_LOG"
    rm -rf "$D"
}
trap stop EXIT
pg_cluster_start "$PORT" -c max_connections=400 -c shared_preload_libraries=pg_stat_statements \
    -c pg_stat_statements.track=all $EXTRA
q() { psql -X -q -A -t -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
q -c "CREATE DATABASE redeem" postgres
q -c "CREATE EXTENSION pg_stat_statements" redeem
export SWITCH_STORE__KIND=postgres SWITCH_STORE__URL="postgres://postgres@127.0.0.1:$PORT/redeem"
"$B/switch" migrate
"$B/switch" demo --citizens 10000 --listen 127.0.0.1:27900 --http 127.0.0.1:27980 >"$D/switch.out" 2>"$D/switch.log" &
PID=$!
until grep -q '^listening ' "$D/switch.out"; do kill -0 $PID || exit 1; sleep 0.1; done

# name=centiseconds for each switch thread and each PostgreSQL process (by its title's role).
cpu() {
    for t in /proc/$PID/task/*; do echo "switch:$(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done
    for p in $(pgrep -u postgres -f '^postgres'); do
        role=$(tr '\0' ' ' <"/proc/$p/cmdline" | sed -E 's/^postgres: ([a-z ]*[a-z]).*/\1/; s/^postgres postgres.*/postgres backend/; s/^\/.*/postmaster/; s/ /_/g')
        case $role in postgres_redeem*) role=backend ;; esac
        echo "pg:$role $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)"
    done
}
wal() { q -F' ' -c "SELECT wal_records, wal_fpi, wal_bytes, wal_write, wal_sync FROM pg_stat_wal" redeem; }
commits() { q -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'redeem'" redeem; }

sleep 1
q -c "SELECT pg_stat_statements_reset()" redeem >/dev/null
cpu >"$D/cpu0"; W0=$(wal); X0=$(commits); T0=$(date +%s.%N)
if [ -n "${PERF:-}" ]; then
    (sleep 3; perf record -q -F 999 -o "$D/perf.data" -p "$(pgrep -d, -u postgres -f '^postgres')" -- sleep "$PERF" \
        >/dev/null 2>&1) &
    PERF_PID=$!  # wait for this one alone below: a bare `wait` would also wait for the switch
fi
(sleep 10; q -F' | ' -c "SELECT now() - xact_start, state, left(query, 60) FROM pg_stat_activity
    WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() ORDER BY xact_start LIMIT 3" redeem >"$D/oldest") &
/usr/bin/time -f "loadtest_cpu %U %S" -o "$D/lt.time" "$B/loadtest" redeem --addr 127.0.0.1:27900 --terminals 256 --pipeline 4 \
    --duration "$DURATION" --no-verify --json "$D/lt.json" | tail -8
cpu >"$D/cpu1"; W1=$(wal); X1=$(commits); T1=$(date +%s.%N)
python3 - "$D" "$T0" "$T1" "$W0" "$W1" "$X0" "$X1" <<'PY'
import json, sys
d, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
w0, w1 = [float(x) for x in sys.argv[4].split()], [float(x) for x in sys.argv[5].split()]
x0, x1 = int(sys.argv[6]), int(sys.argv[7])
ok = json.load(open(f"{d}/lt.json"))["ok"]
def load(p):
    out = {}
    for line in open(p):
        k, v = line.split()
        out[k] = out.get(k, 0) + int(v)
    return out
a, b = load(f"{d}/cpu0"), load(f"{d}/cpu1")
secs = t1 - t0
print(f"window {secs:.1f} s, {ok} redemptions acknowledged ({ok / secs:,.0f}/s); CPU per redemption:")
groups = {}
for k in sorted(b, key=lambda k: a.get(k, 0) - b[k]):
    cs = b[k] - a.get(k, 0)
    groups[k.split(":")[0]] = groups.get(k.split(":")[0], 0) + cs
    if cs > 0:
        print(f"  {k:32s} {cs / 100:6.2f} s  {cs / 100 / secs * 100:5.1f}% of a core  {cs / 100 / ok * 1e6:5.1f} us")
u, s = open(f"{d}/lt.time").read().split()[1:3]
groups["loadtest"] = (float(u) + float(s)) * 100
for g, cs in groups.items():
    print(f"  {g + ', all':32s} {cs / 100:6.2f} s  {cs / 100 / secs:.2f} cores        {cs / 100 / ok * 1e6:5.1f} us")
r, fpi, by, wr, sy = [y - x for x, y in zip(w0, w1)]
print(f"WAL: {r / ok:.2f} records, {by / ok:,.0f} bytes ({fpi / ok:.3f} full-page images) per redemption; "
      f"{wr / secs:,.0f} writes/s, {sy / secs:,.0f} fsyncs/s; {(x1 - x0) / secs:,.0f} commits/s "
      f"({ok / max(x1 - x0, 1):,.0f} redemptions a commit)")
PY
if [ -n "${PERF:-}" ]; then
    wait "$PERF_PID"
    echo "PostgreSQL's processes, top symbols (perf, self):"
    perf report -i "$D/perf.data" --no-children --sort dso,symbol --percent-limit 0.7 --stdio -g none 2>/dev/null |
        grep -E "^ +[0-9]" | head -40 || true
fi
echo "tables after the run (updates in place = HOT: no index entry written):"
q -F' | ' -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_dead_tup, n_live_tup,
      pg_size_pretty(pg_total_relation_size(relid)) FROM pg_stat_user_tables
    WHERE relname IN ('journal', 'postings', 'wallets', 'wallet_lots', 'settlement_lines', 'settlement_windows')
    ORDER BY relname" redeem
echo "oldest transaction open during the load (its age holds back the pruning of updated rows):"
cat "$D/oldest" 2>/dev/null || true
echo "statements by total time (pg_stat_statements, the window):"
q -F' | ' -c "SELECT round(total_exec_time::numeric / 1000, 2) || ' s', calls, rows,
      round((total_exec_time / greatest(calls, 1))::numeric, 3) || ' ms',
      regexp_replace(left(query, 90), '\s+', ' ', 'g')
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12" redeem
