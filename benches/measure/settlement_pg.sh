#!/usr/bin/env bash
# The settlement detail's page query on PostgreSQL at scale (README, "Settlement at scale"): a
# private PostgreSQL 15 cluster, `switch migrate`, then N settlement lines of one book (a
# partner's migrations, `F:1`, spread over one month) and 10,000 wallets written by SQL, then
# EXPLAIN (ANALYZE, BUFFERS) of the detail's page query (switch/src/store/postgres/settlement.rs,
# `lines`) for the first page and for a late one (the keyset of the line 50,000 before the
# end), with the plan PostgreSQL chooses for the prepared statement and the generic one it may
# switch to after five executions. A page that walks the index from the month's start instead
# of its keyset shows as a buffer count that grows with N.
#
#   benches/measure/settlement_pg.sh [N] [PORT]   (release switch built first; run as root, under `quiet`)
set -euo pipefail
N=${1:-10000000}
PORT=${2:-55433}
B=$(realpath "${BIN:-target/release}")
. "$(dirname "$0")/pg_cluster.sh"
pg_cluster_init pg-settlement
pg_cluster_start "$PORT" -c max_wal_size=4GB
stop() { pg_cluster_stop; rm -rf "$D"; }
trap stop EXIT
URL="postgres://postgres@127.0.0.1:$PORT/postgres"
SWITCH_STORE__KIND=postgres SWITCH_STORE__URL="$URL" "$B/switch" migrate
q() { psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres postgres "$@"; }

start=$(date +%s.%N)
q <<SQL
INSERT INTO wallets (wallet_id, mykey_id, status, version)
SELECT i, 'MK' || lpad(i::text, 6, '0'), 1, 0 FROM generate_series(1, 10000) i;
-- N lines in time order over November 2026 (30 business days), as the ledger writes them.
INSERT INTO settlement_lines (book, business_date, entry_id, counterparty, wallet_id, created_at_ms, entries, points)
SELECT 'F:1', 20261101 + (i - 1) * 30 / $N, i, 'M141305', 1 + i % 10000,
       1793458800000 + (i - 1) * (30 * 86400000::bigint / $N), 1, 1 + i % 500
FROM generate_series(1, $N) i;
VACUUM ANALYZE settlement_lines;
VACUUM ANALYZE wallets;
SQL
echo "$N lines written in $(echo "$(date +%s.%N) - $start" | bc) s; table $(q -Atc "SELECT pg_size_pretty(pg_table_size('settlement_lines'))"), key $(q -Atc "SELECT pg_size_pretty(pg_relation_size('settlement_lines_pkey'))")"
LATE=$(q -Atc "SELECT business_date || ',' || entry_id FROM settlement_lines WHERE book = 'F:1'
               ORDER BY business_date DESC, entry_id DESC LIMIT 1 OFFSET 50000")
echo "late page: after ($LATE), the last 50,000 of $N"

q <<SQL
PREPARE lines(text, int, int, bigint, int, text, bigint, bigint) AS
SELECT l.business_date, l.entry_id, l.created_at_ms, l.counterparty, w.mykey_id, l.entries::bigint, l.points
FROM settlement_lines l LEFT JOIN wallets w ON w.wallet_id = l.wallet_id
WHERE l.book = \$1 AND l.business_date >= \$2 AND (l.business_date, l.entry_id) > (\$3, \$4)
  AND l.business_date <= \$5 AND (\$6::text IS NULL OR l.counterparty = \$6)
  AND (\$8::bigint IS NULL OR l.entry_id <= \$8)
ORDER BY l.business_date, l.entry_id LIMIT \$7;
\echo == first page (50,000 lines)
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE lines('F:1', 20261101, 20261101, -1, 20261130, NULL, 50000, NULL);
\echo == late page (the last 50,000 lines)
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE lines('F:1', 20261101, ${LATE}, 20261130, NULL, 50000, NULL);
\echo == late page, the generic plan (what a prepared statement may use after five executions)
SET plan_cache_mode = force_generic_plan;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE lines('F:1', 20261101, ${LATE}, 20261130, NULL, 50000, NULL);
SQL
