#!/usr/bin/env bash
# Settlement at scale (README, "Settlement at scale"): a past month of N partner migrations
# (日本航空 → 川崎市ポイント, one journal entry each) written into a stopped demo store (the
# journal engine, the default, or the SQLite layout with SWITCH_STORE__KIND=sqlite), then
# 参考82 (the partner's report) and 参考84 (川崎市's) over that month, summary and whole detail,
# then closing the month on the running switch (MIC, every book), and what that close reads:
# its query plan and SQLite's page and row counters for it.
#
#   benches/measure/settlement.sh N [DATA_DIR] [PERIOD]     (release binaries built first:
#   cargo build --release -p switch -p benches --bins; run it under `quiet`; a month closes
#   once, so a second run on the same DATA_DIR reports the first close)
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
serve
# The journal engine (the default) says at start how many entries it replayed; the SQLite
# layout keeps them in its journal table.
if [ -d "$D/journal" ]; then
    ENTRIES=$(sed 's/\x1b\[[0-9;]*m//g' "$D.log" | sed -n 's/.*journal replayed.*entries=\([0-9]*\).*/\1/p' | tail -1)
else
    ENTRIES=$(sqlite3 "$D/switch.db" 'SELECT COUNT(*) FROM journal')
fi
echo "journal: $ENTRIES entries; $(du -sh "$D" | cut -f1) on disk"
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
# Closing the month, every book at once (MIC, as `switch settle` does, but on the running switch:
# `switch settle` on a stopped journal-engine store first replays the whole journal to open it,
# which is the start's cost, not the close's). Closing is once: run this on a fresh fill.
M=$(curl -s -X POST "http://$H/api/v1/staff/login" -H 'content-type: application/json' \
      -d '{"login_id":"mic-admin","password":"mic-demo-password"}' | jq -r .token)
curl -s -o /tmp/settlement-answer -w "closing $PERIOD (MIC, every book): HTTP %{http_code} in %{time_total} s\n" \
    -X POST "http://$H/api/v1/settlement/periods/$PERIOD/close" -H "authorization: Bearer $M"
jq -c 'if type == "array" then [.[] | {book, entries, points}] else . end' /tmp/settlement-answer 2>/dev/null | head -c 400; echo
stop

# What a close reads: the windows of one book's month, summed by counterparty. The plan names
# the windows' index (no journal, no settlement lines); SQLite's own counters for the same read
# in a fresh connection (pages it had to read = page cache misses, rows it stepped over) stay
# the same whatever the number of entries in the month.
echo "the close's read of a book's month: $(sqlite3 "$D/switch.db" "SELECT COUNT(*) FROM settlement_windows
  WHERE book = 'F:1' AND business_date BETWEEN ${PERIOD}01 AND ${PERIOD}31") window rows"
sqlite3 "$D/switch.db" <<SQL | grep -E 'QUERY PLAN|SEARCH|SCAN|USE|Page cache (hits|misses)|Fullscan|Virtual Machine|^F:1'
EXPLAIN QUERY PLAN SELECT book, counterparty, SUM(entries), SUM(points) FROM settlement_windows
  WHERE book = 'F:1' AND business_date BETWEEN ${PERIOD}01 AND ${PERIOD}31 GROUP BY book, counterparty;
.stats on
SELECT book, counterparty, SUM(entries), SUM(points) FROM settlement_windows
  WHERE book = 'F:1' AND business_date BETWEEN ${PERIOD}01 AND ${PERIOD}31 GROUP BY book, counterparty;
SQL

# A late page of the detail (the last 50,000 lines of 参考82's month): the detail's page query
# (switch/src/store/sqlite/settlement.rs, `lines`) after the keyset of the line 50,000 before the
# end. Its plan seeks the primary key at the keyset; its counters (rows stepped over, pages
# read) are one page's, not the month's up to it.
LATE=$(sqlite3 "$D/switch.db" "SELECT business_date || ', ' || entry_id FROM settlement_lines
  WHERE book = 'F:1' AND business_date BETWEEN ${PERIOD}01 AND ${PERIOD}31
  ORDER BY business_date DESC, entry_id DESC LIMIT 1 OFFSET 50000")
echo "a late page of 参考82's detail: the 50,000 lines after ($LATE)"
sqlite3 "$D/switch.db" <<SQL | grep -E 'QUERY PLAN|SEARCH|SCAN|USE|Page cache (hits|misses)|Fullscan|Sort|Virtual Machine|^Run Time|^[0-9]+$'
EXPLAIN QUERY PLAN SELECT l.business_date, l.entry_id, l.created_at_ms, l.counterparty, w.mykey_id, l.entries, l.points
  FROM settlement_lines l LEFT JOIN wallets w ON w.wallet_id = l.wallet_id
  WHERE l.book = 'F:1' AND (l.business_date, l.entry_id) > ($LATE) AND l.business_date <= ${PERIOD}31
  ORDER BY l.business_date, l.entry_id LIMIT 50000;
.stats on
.timer on
SELECT COUNT(*) FROM (SELECT l.business_date, l.entry_id, l.created_at_ms, l.counterparty, w.mykey_id, l.entries, l.points
  FROM settlement_lines l LEFT JOIN wallets w ON w.wallet_id = l.wallet_id
  WHERE l.book = 'F:1' AND (l.business_date, l.entry_id) > ($LATE) AND l.business_date <= ${PERIOD}31
  ORDER BY l.business_date, l.entry_id LIMIT 50000);
SQL
