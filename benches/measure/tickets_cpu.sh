#!/usr/bin/env bash
# Where a ticket clearing's CPU goes (README, "Point tickets"): a fresh `switch demo`, then
# `loadtest tickets`; a sampler reads, every ~0.3 s, the switch's ticket_clear request count
# from /metrics and each of its threads' CPU time from /proc, and prints each thread's CPU
# over the clearing phase alone (from the last sample before the first clearing to the first
# sample after the last).
#
#   benches/measure/tickets_cpu.sh [COUNT] [DATA_DIR]    (release binaries built first:
#   cargo build --release -p switch -p loadtest --bins; run it under `quiet`)
set -euo pipefail
COUNT=${1:-60000}
D=${2:-/tmp/tickets-cpu}
B=${BIN:-target/release}
H=127.0.0.1:27780
SAMPLES="$D.samples"

"$B/switch" demo --fresh --data-dir "$D" --listen 127.0.0.1:27700 --http $H --citizens 10000 >"$D.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf "http://$H/health" >/dev/null && break; sleep 0.1; done

# One line per sample: unix time, ticket_clear requests answered, then thread=centiseconds.
sample() {
    local cleared cpu
    cleared=$(curl -s "http://$H/metrics" | awk '/^switch_requests_total/ && /type="ticket_clear"/ {s += $NF} END {print s + 0}')
    cpu=$(for t in /proc/$PID/task/*; do echo "$(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done |
        awk '{a[$1] += $2} END {for (k in a) printf "%s=%s ", k, a[k]}')
    echo "$(date +%s.%N) $cleared $cpu"
}
(while kill -0 $PID 2>/dev/null; do sample; sleep 0.1; done) >"$SAMPLES" 2>/dev/null &

"$B/loadtest" tickets --addr 127.0.0.1:27700 --count "$COUNT" --citizens 2000 --terminals 32 --duplicate-every 10
sleep 1

python3 - "$SAMPLES" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 3:
        continue
    rows.append((float(f[0]), int(f[1]), {k: int(v) for k, v in (x.split("=") for x in f[2:])}))
last = max(r[1] for r in rows)
i0 = max(i for i, r in enumerate(rows) if r[1] == 0)
i1 = min(i for i, r in enumerate(rows) if r[1] == last)
(t0, c0, a), (t1, c1, b) = rows[i0], rows[i1]
print(f"clearing window {t1 - t0:.2f} s (sampled), {c1 - c0} ticket_clear requests")
total = 0.0
for k in sorted(b, key=lambda k: a.get(k, 0) - b[k]):
    d = (b[k] - a.get(k, 0)) / 100
    total += d
    if d > 0:
        print(f"  {k:18s} {d:5.2f} s CPU  {d / (t1 - t0) * 100:5.1f}% of a core  {d / (c1 - c0) * 1e6:5.1f} us/request")
print(f"  {'switch, all':18s} {total:5.2f} s CPU  {total / (t1 - t0):.2f} cores  {total / (c1 - c0) * 1e6:5.1f} us/request")
PY
