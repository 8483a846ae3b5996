#!/usr/bin/env bash
# Where the open loop's tail comes from (README, "The journal engine"): a fresh `switch demo
# --citizens 10000`, optionally warmed first by a closed loop (so every wallet the load touches
# is already active), then `loadtest redeem --terminals 256 --rate RATE`; around the open loop it
# reads the ledger's commit-time histogram from /metrics, so a tail made by slow group commits
# (the journal's write + fdatasync) shows there and one made elsewhere does not.
#
#   benches/measure/open_loop_tail.sh RATE [WARMUP_SECONDS] [SECONDS]
#   CHECKPOINT_ENTRIES=1000000000 benches/measure/open_loop_tail.sh 53394 5   (no checkpoint)
#
# Release binaries built first (cargo build --release -p switch -p loadtest --bins); run it
# under `quiet`.
set -euo pipefail
RATE=${1:?rate per second}
WARMUP=${2:-0}
SECONDS_RUN=${3:-15}
B=${BIN:-target/release}
D=$(mktemp -d /tmp/open-loop-tail.XXXXXX)
H=127.0.0.1:27783
[ -n "${CHECKPOINT_ENTRIES:-}" ] && export SWITCH_STORE__JOURNAL_CHECKPOINT_ENTRIES=$CHECKPOINT_ENTRIES
"$B/switch" demo --fresh --data-dir "$D/data" --listen 127.0.0.1:27703 --http $H --citizens 10000 >"$D/switch.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$D"' EXIT
for _ in $(seq 1 600); do curl -sf "http://$H/health" >/dev/null && break; sleep 0.1; done

if [ "$WARMUP" != 0 ]; then
    echo "warm-up, closed loop ${WARMUP}s:"
    "$B/loadtest" redeem --addr 127.0.0.1:27703 --terminals 256 --pipeline 4 --duration "${WARMUP}s" --no-verify |
        grep -E '^(throughput|latency)'
fi
buckets() { curl -s "http://$H/metrics" | grep '^switch_ledger_commit_seconds_bucket'; }
buckets >"$D/before"
echo "open loop at $RATE/s, ${SECONDS_RUN}s:"
"$B/loadtest" redeem --addr 127.0.0.1:27703 --terminals 256 --rate "$RATE" --duration "${SECONDS_RUN}s" --no-verify |
    grep -E '^(ok|errors|  BUSY|latency)'
buckets >"$D/after"
echo "group commits during the open loop, by duration (ledger histogram: at most / in this bucket):"
paste -d' ' "$D/before" "$D/after" | awk '{
    le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
    n = $4 - $2; printf "  <= %-7s s  %7d  %7d\n", le, n, n - prev; prev = n }'
