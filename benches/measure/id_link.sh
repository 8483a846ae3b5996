#!/usr/bin/env bash
# A million-line ID-link file on a fresh demo (README, "ID-link files"): `switch demo --fresh`
# with C citizens, then `loadtest migrate-batch` of N lines; each switch thread's CPU over the
# batch (from /proc, before and after), so what is busy and what waits shows beside the time.
#
#   benches/measure/id_link.sh [CITIZENS] [LINES] [DATA_DIR]   (release binaries built first:
#   cargo build --release -p switch -p loadtest --bins; run it under `quiet`). Extra settings
#   through the environment, e.g. SWITCH_PARTNERS__ID_LINK_IN_FLIGHT=2048; BESIDE=2000 runs
#   `loadtest redeem` at that rate (open loop, 64 terminals, 30 s) and starts the file 5 s in.
set -euo pipefail
C=${1:-1000000}
N=${2:-1000000}
D=${3:-/tmp/idlink-$C}
B=${BIN:-target/release}
H=127.0.0.1:17780

"$B/switch" demo --fresh --citizens "$C" --data-dir "$D" --listen 127.0.0.1:17700 --http $H >"$D.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
until grep -q '^listening ' "$D.log"; do
    kill -0 $PID 2>/dev/null || { echo "the switch exited (see $D.log)" >&2; exit 1; }
    sleep 0.1
done

# thread=centiseconds of CPU (user + system), threads of one name summed.
cpu() {
    for t in /proc/$PID/task/*; do echo "$(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done |
        awk '{a[$1] += $2} END {for (k in a) printf "%s=%s ", k, a[k]}'
}
if [ -n "${BESIDE:-}" ]; then
    "$B/loadtest" redeem --addr 127.0.0.1:17700 --terminals 64 --rate "$BESIDE" --duration 30s --no-verify >"$D.redeem" 2>&1 &
    REDEEM=$!
    sleep 5
fi
before=$(cpu)
started=$(date +%s.%N)
"$B/loadtest" migrate-batch --addr $H --lines "$N" --json "$D.json" | tail -3
elapsed=$(echo "$(date +%s.%N) - $started" | bc)
after=$(cpu)
echo "resident at the end: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' /proc/$PID/status)"
if [ -n "${BESIDE:-}" ]; then
    wait $REDEEM || true
    echo "redemptions beside it:"; tail -6 "$D.redeem"
fi
python3 - "$elapsed" "$before" "$after" <<'PY'
import sys
t = float(sys.argv[1])
a = dict(x.split("=") for x in sys.argv[2].split())
b = dict(x.split("=") for x in sys.argv[3].split())
total = 0.0
print(f"thread CPU over the batch ({t:.2f} s, upload to done):")
for k in sorted(b, key=lambda k: int(a.get(k, 0)) - int(b[k])):
    d = (int(b[k]) - int(a.get(k, 0))) / 100
    total += d
    if d > 0:
        print(f"  {k:18s} {d:6.2f} s  {d / t * 100:5.1f}% of a core")
print(f"  {'switch, all':18s} {total:6.2f} s  {total / t:.2f} cores of 2")
PY
