#!/usr/bin/env bash
# Clearing against redemption on the same build and machine (README, "Point tickets"): a fresh
# `switch demo --citizens 10000` (the journal engine), 10 s of redemptions,
# COUNT tickets issued and cleared from 32 terminals (every 10th cleared twice), 10 s of
# redemptions again, then `switch check` with the demo stopped.
#
#   benches/measure/tickets.sh [COUNT] [DATA_DIR]    (release binaries built first:
#   cargo build --release -p switch -p loadtest --bins; run it under `quiet`)
set -euo pipefail
COUNT=${1:-60000}
D=${2:-/tmp/tickets-measure}
B=${BIN:-target/release}
A=127.0.0.1:27700
H=127.0.0.1:27780

"$B/switch" demo --fresh --data-dir "$D" --listen $A --http $H --citizens 10000 >"$D.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf "http://$H/health" >/dev/null && break; sleep 0.1; done

"$B/loadtest" redeem --addr $A --terminals 32 --pipeline 16 --duration 10s --json "$D.redeem-before.json"
"$B/loadtest" tickets --addr $A --count "$COUNT" --citizens 2000 --terminals 32 --duplicate-every 10 \
    --json "$D.tickets.json"
"$B/loadtest" redeem --addr $A --terminals 32 --pipeline 16 --duration 10s --json "$D.redeem-after.json"
kill $PID
wait $PID 2>/dev/null || true
"$B/switch" check --data-dir "$D"
