#!/usr/bin/env bash
# Where a redemption's CPU goes (README, "The journal engine"): a fresh `switch demo`, then one
# closed-loop `loadtest redeem` with the given terminals × pipeline; over a window in the middle
# of the run it reads each switch thread's CPU and the generator's from /proc, counts both
# processes' system calls and context switches with `perf stat` (tracepoints: cheap, unlike
# strace), and optionally samples the switch flat with `perf record -F 499` (no call graphs:
# DWARF unwinding slows the switch several times and is unrepresentative).
#
#   benches/measure/redeem_cpu.sh TERMINALS PIPELINE [SECONDS] [DATA_DIR]
#   PERF_RECORD=1 benches/measure/redeem_cpu.sh 256 4      (also a flat profile, top symbols)
#
# Release binaries built first (cargo build --release -p switch -p loadtest --bins); run it
# under `quiet`. Figures are per redemption answered OK within the window.
set -euo pipefail
TERMINALS=${1:?terminals}
PIPELINE=${2:?pipeline}
SECONDS_RUN=${3:-20}
D=${4:-/tmp/redeem-cpu}
B=${BIN:-target/release}
H=127.0.0.1:27780
WARMUP=4
WINDOW=$((SECONDS_RUN - WARMUP - 3))

"$B/switch" demo --fresh --data-dir "$D" --listen 127.0.0.1:27700 --http $H --citizens 10000 >"$D.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$D"' EXIT
for _ in $(seq 1 600); do curl -sf "http://$H/health" >/dev/null && break; sleep 0.1; done

# Redemptions answered OK, then the ledger's commits, their seconds and their entries (sums).
redeemed() {
    curl -s "http://$H/metrics" | awk '
        /^switch_requests_total/ && /type="redeem"/ && /result="ok"/ {s += $NF}
        /^switch_ledger_commit_seconds_count/ {c = $NF}
        /^switch_ledger_commit_seconds_sum/ {t = $NF}
        /^switch_ledger_batch_entries_sum/ {e = $NF}
        END {printf "%d,%d,%f,%d", s, c, t, e}'
}
# thread=ticks (user+system, 1/100 s) of every thread of process $1, threads of one name summed.
threads() {
    for t in /proc/"$1"/task/*; do echo "$(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done |
        awk '{a[$1] += $2} END {for (k in a) printf "%s=%s ", k, a[k]}'
}

"$B/loadtest" redeem --addr 127.0.0.1:27700 --terminals "$TERMINALS" --pipeline "$PIPELINE" \
    --duration "${SECONDS_RUN}s" >"$D.loadtest" 2>&1 &
LT=$!
sleep "$WARMUP"
EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,context-switches
perf stat -x, -e "$EVENTS" -p "$PID" -o "$D.perf-switch" -- sleep "$WINDOW" &
PS1=$!
perf stat -x, -e "$EVENTS" -p "$LT" -o "$D.perf-loadtest" -- sleep "$WINDOW" &
PS2=$!
if [ -n "${PERF_RECORD:-}" ]; then
    perf record -F 499 -p "$PID" -o "$D.perf-data" -- sleep "$WINDOW" >/dev/null 2>&1 &
fi
n0=$(redeemed); s0=$(threads "$PID"); l0=$(threads "$LT"); t0=$(date +%s.%N)
sleep "$WINDOW"
n1=$(redeemed); s1=$(threads "$PID"); l1=$(threads "$LT"); t1=$(date +%s.%N)
wait $PS1 $PS2
wait $LT || true
tail -25 "$D.loadtest"

python3 - "$n0" "$n1" "$t0" "$t1" "$s0" "$s1" "$l0" "$l1" "$D.perf-switch" "$D.perf-loadtest" <<'PY'
import sys
(n0, c0, s0, e0), (n1, c1, s1, e1) = ([float(x) for x in a.split(",")] for a in sys.argv[1:3])
t0, t1 = float(sys.argv[3]), float(sys.argv[4])
n0, n1 = int(n0), int(n1)
def parse(s):
    return {k: int(v) for k, v in (x.split("=") for x in s.split())}
n, secs = n1 - n0, t1 - t0
print(f"window {secs:.2f} s: {n} redemptions OK, {n / secs:,.0f}/s")
commits = c1 - c0
if commits > 0:
    print(f"ledger: {commits:.0f} commits, {(s1 - s0) / commits * 1e3:.2f} ms each on average, "
          f"{(e1 - e0) / commits:.0f} entries each, committing {(s1 - s0) / secs * 100:.0f}% of the window")
for name, a, b in (("switch", sys.argv[5], sys.argv[6]), ("loadtest", sys.argv[7], sys.argv[8])):
    a, b = parse(a), parse(b)
    total = 0.0
    print(f"{name}:")
    for k in sorted(b, key=lambda k: a.get(k, 0) - b[k]):
        d = (b[k] - a.get(k, 0)) / 100
        total += d
        if d > 0:
            print(f"  {k:18s} {d:6.2f} s CPU {d / secs * 100:5.1f}% of a core {d / n * 1e6:5.2f} us/redemption")
    print(f"  {'all threads':18s} {total:6.2f} s CPU {total / secs:.2f} cores    {total / n * 1e6:5.2f} us/redemption")
for name, path in (("switch", sys.argv[9]), ("loadtest", sys.argv[10])):
    print(f"{name} per redemption:", end="")
    for line in open(path):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].replace(".", "").isdigit():
            print(f" {f[2].split(':')[-1].replace('sys_enter_', '')}={int(f[0]) / n:.3f}", end="")
    print()
PY
if [ -n "${PERF_RECORD:-}" ]; then
    perf report -i "$D.perf-data" --no-children --sort comm,dso,sym --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -45
    rm -f "$D.perf-data"
fi
rm -f "$D.perf-switch" "$D.perf-loadtest"
