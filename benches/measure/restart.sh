#!/usr/bin/env bash
# Restart with a long journal, and a million active wallets (README, "The journal engine"):
# `switch demo` with C citizens, N redemptions more written by `journal_fill` (through the
# engine's own writer, checkpoints taken in the background as when serving), then:
#   1. start as the fill left it (its last checkpoint, the journal after it replayed);
#   2. start again once the serving switch has written a checkpoint of the whole journal
#      (the first start is told to checkpoint at once: store.journal_checkpoint_entries = 1);
#   3. start with the checkpoint moved away (the whole journal replayed, as before checkpoints);
# each: seconds from exec to the "listening" line (terminals served), resident memory then;
# then every citizen's wallet made active (`loadtest redeem --sweep` over all C) and the
# resident memory with them; `switch check` over it all (the checkpoint proved equal to the
# journal it covers).
#
#   benches/measure/restart.sh [CITIZENS] [ENTRIES] [DATA_DIR]   (release binaries built first:
#   cargo build --release -p switch -p loadtest -p benches --bins; run it under `quiet`)
set -euo pipefail
export SWITCH_TERMINAL__PLAIN_TCP=true   # loopback only (serve asks for TLS otherwise)
C=${1:-1000000}
N=${2:-9000000}
D=${3:-/tmp/restart-$C}
B=${BIN:-target/release}
T=127.0.0.1:27800
H=127.0.0.1:27880

# Starts the switch (`$@`: demo or serve and flags), waits for "listening"; sets PID, SECONDS_TO_SERVE.
start() {
    : >"$D.out"
    local started
    started=$(date +%s.%N)
    "$B/switch" "$@" --data-dir "$D" --listen $T --http $H >"$D.out" 2>>"$D.log" &
    PID=$!
    until grep -q '^listening ' "$D.out"; do
        kill -0 $PID 2>/dev/null || { echo "the switch exited (see $D.log)" >&2; exit 1; }
        sleep 0.01
    done
    SECONDS_TO_SERVE=$(echo "$(date +%s.%N) - $started" | bc)
}
rss() { awk '/VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$PID/status"; }
stop9() { kill -9 "$PID"; wait "$PID" 2>/dev/null || true; }
checkpointed() { [ -f "$D/journal/checkpoint.ckp" ] && od -An -t u8 -j 56 -N 8 "$D/journal/checkpoint.ckp" | tr -d ' ' || echo 0; }

rm -rf "$D" "$D.log" "$D.out"
mkdir -p "$D"
start demo --fresh --citizens "$C"
echo "demo with $C citizens loaded and serving in $SECONDS_TO_SERVE s"
stop9
"$B/journal_fill" --data-dir "$D" --entries "$N" --citizens "$C"
echo "journal: $(du -sh "$D/journal" | cut -f1); checkpoint covers $(checkpointed) entries"

# Checkpoint as soon as anything is new, so this serving switch writes one of the whole journal.
SWITCH_STORE__JOURNAL_CHECKPOINT_ENTRIES=1 start serve
echo "1. restart as the fill left it: serving in $SECONDS_TO_SERVE s, resident $(rss)"
grep 'journal replayed' "$D.log" | tail -1
until [ "$(checkpointed)" -ge $((C + N)) ]; do sleep 0.5; done
echo "   a checkpoint of all $((C + N)) entries written: $(grep 'journal checkpoint written' "$D.log" | tail -1)"
stop9

start serve
echo "2. restart from a checkpoint of the whole journal: serving in $SECONDS_TO_SERVE s, resident $(rss)"
grep 'journal replayed' "$D.log" | tail -1
stop9

mv "$D/journal/checkpoint.ckp" "$D/checkpoint.aside"
SWITCH_STORE__JOURNAL_CHECKPOINT_ENTRIES=0 start serve
echo "3. restart replaying the whole journal: serving in $SECONDS_TO_SERVE s, resident $(rss)"
grep 'journal replayed' "$D.log" | tail -1
stop9
mv "$D/checkpoint.aside" "$D/journal/checkpoint.ckp"

start serve
echo "== every citizen's wallet active"
"$B/loadtest" redeem --addr $T --terminals 256 --pipeline 4 --citizens "$C" --sweep --no-verify --duration "${SWEEP:-60s}" | tail -4
wallets() { curl -s "http://$H/metrics" | grep -E "^switch_wallets_(active|running) " | tr '\n' ' ' || true; }
echo "resident with $C wallets active: $(rss); $(wallets)"
# Wallets idle for wallets.idle_park_s are parked at the next sweep (every wallets.sweep_every_s).
sleep "${PARKED_AFTER:-25}"
echo "resident once the idle ones are parked: $(rss); $(wallets)"
stop9
/usr/bin/time -f "switch check: %e s, %M KB max resident" "$B/switch" check --data-dir "$D" | tail -3
