#!/usr/bin/env bash
# Administrative grants at scale (README, "Administrative grants at scale"): a roster of N demo
# citizens granted in one run; then a second programme's run over the same N, the switch killed
# with kill -9 in its middle and restarted, the run finished from its checkpoint; each subject
# granted once by each, and `switch check` over the books.
#
#   benches/measure/grants.sh N [DATA_DIR] [KILL_AFTER_S]    (release binaries built first:
#   cargo build --release -p switch -p loadtest --bins; run it under `quiet`)
set -euo pipefail
N=${1:?roster size}
D=${2:-/tmp/grants-$N}
KILL_AFTER=${3:-4}
B=${BIN:-target/release}
H=127.0.0.1:17780

serve() {
    "$B/switch" demo --citizens "$N" --data-dir "$D" --listen 127.0.0.1:17700 --http $H "$@" >>"$D.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 1200); do curl -sf "http://$H/health" >/dev/null && return 0; sleep 0.1; done
    echo "the switch did not start (see $D.log)" >&2; exit 1
}
# Grant entries: their settlement lines (book G:<programme>, one per grant). On the journal
# engine (the default) these are its projection into SQLite, complete once a programme's figures
# were read (that read waits for the projection); on the SQLite engine, written with the entry.
grants() { sqlite3 "$D/switch.db" "SELECT COUNT(*) FROM settlement_lines WHERE book LIKE 'G:%'"; }
# A run's checkpoint: the subjects it had granted when it last saved its progress.
checkpoint() { sqlite3 "$D/switch.db" "SELECT granted FROM grant_runs WHERE run_id = $1"; }

rm -rf "$D" "$D.log"
serve --fresh
echo "== one run over a roster of $N"
"$B/loadtest" grants --addr $H --subjects "$N" --json "$D-run.json"

echo "== a second programme's run, killed with kill -9 after ${KILL_AFTER} s"
RUN=$("$B/loadtest" grants --addr $H --subjects "$N" --start-only)
sleep "$KILL_AFTER"
kill -9 "$PID"; wait "$PID" || true
echo "killed: run $RUN had saved a checkpoint of $(checkpoint "${RUN#*:}") of $N granted"
started=$(date +%s.%N)
serve
echo "restarted in $(echo "$(date +%s.%N) - $started" | bc) s"
"$B/loadtest" grants --addr $H --subjects "$N" --resume "$RUN" --json "$D-resumed.json"
echo "grant entries: $(grants) (2 × $N expected; $(sed 's/\x1b\[[0-9;]*m//g' "$D.log" | sed -n 's/.*journal replayed.*entries=\([0-9]*\).*/\1/p' | tail -1) journal entries replayed at the restart)"
"$B/switch" check --data-dir "$D" | tail -2
kill "$PID"; wait "$PID" || true
