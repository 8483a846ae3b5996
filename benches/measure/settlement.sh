#!/usr/bin/env bash
# Settlement at scale (README, "Settlement at scale"): a past month of N partner migrations
# (日本航空 → 川崎市ポイント, one journal entry each) written into a stopped demo store, then
# 参考82 (the partner's report) and 参考84 (川崎市's) over that month, summary and whole detail,
# and closing the month with `switch settle`, with the close's query plan.
#
#   benches/measure/settlement.sh N [DATA_DIR] [PERIOD]     (release binaries built first:
#   cargo build --release -p switch -p benches --bins; run it under `quiet`)
set -euo pipefail
N=${1:?entries in the month}
D=${2:-/tmp/settlement-$N}
PERIOD=${3:-$(date -d "$(date +%Y-%m-01) -1 month" +%Y%m)}
B=${BIN:-target/release}
H=127.0.0.1:17780

serve() {
    "$B/switch" demo --citizens 10000 --data-dir "$D" --listen 127.0.0.1:17700 --http $H >"$D.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 600); do curl -sf "http://$H/health" >/dev/null && return 0; sleep 0.1; done
    echo "the switch did not start (see $D.log)" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" || true; }
# seconds and bytes of one GET
timed() {
    local what=$1 path=$2 auth=$3
    curl -s -o /tmp/settlement-answer -w "$what: HTTP %{http_code}, %{size_download} bytes in %{time_total} s\n" \
        "http://$H$path" -H "authorization: Bearer $auth"
}

if [ ! -e "$D/switch.db" ]; then
    rm -rf "$D"; mkdir -p "$D"
    serve; stop                                   # the demo's data: 10,000 citizens, 川崎市, 日本航空
    "$B/settlement_month" --data-dir "$D" --period "$PERIOD" --entries "$N"
fi
echo "journal: $(sqlite3 "$D/switch.db" 'SELECT COUNT(*) FROM journal') entries; $(du -sh "$D" | cut -f1) on disk"

serve
PARTNER=1.demo-partner-secret-jal
T=$(curl -s -X POST "http://$H/api/v1/staff/login" -H 'content-type: application/json' \
      -d '{"login_id":"kawasaki-admin","password":"kawasaki-demo-password"}' | jq -r .token)
timed "参考82 summary (JSON)" "/api/v1/partner/settlement/migrations?period=$PERIOD" $PARTNER
jq -c '{entries, points}' /tmp/settlement-answer 2>/dev/null || head -c 300 /tmp/settlement-answer
timed "参考82 with its detail (CSV)" "/api/v1/partner/settlement/migrations?period=$PERIOD&format=csv" $PARTNER
echo "  $(wc -l </tmp/settlement-answer) lines"
timed "参考82 with its detail (Shift_JIS CSV)" "/api/v1/partner/settlement/migrations?period=$PERIOD&format=csv-sjis" $PARTNER
timed "参考84 summary (JSON)" "/api/v1/municipalities/141305/settlement/migrations?period=$PERIOD" "$T"
timed "参考84 with its detail (CSV)" "/api/v1/municipalities/141305/settlement/migrations?period=$PERIOD&format=csv" "$T"
echo "  $(wc -l </tmp/settlement-answer) lines"
stop

echo "closing $PERIOD:"
/usr/bin/time -f "  switch settle: %e s, %M KiB" "$B/switch" settle --period "$PERIOD" --data-dir "$D" | tail -3
echo "the close's read of a book's month (query plan):"
sqlite3 "$D/switch.db" "EXPLAIN QUERY PLAN SELECT book, counterparty, SUM(entries), SUM(points) FROM settlement_windows
  WHERE book = 'F:1' AND business_date BETWEEN ${PERIOD}01 AND ${PERIOD}31 GROUP BY book, counterparty"
