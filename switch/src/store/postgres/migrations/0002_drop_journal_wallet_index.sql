-- Schema version 2: as in the embedded store, the journal_wallet index took a random page
-- write per redemption and only `switch check` read it (it groups the journal by wallet anyway).
DROP INDEX IF EXISTS journal_wallet;
-- Every redemption updates its wallet row and a lot row: room on the page lets PostgreSQL
-- update them in place (HOT, no index write) instead of moving them.
ALTER TABLE wallets SET (fillfactor = 80);
ALTER TABLE wallet_lots SET (fillfactor = 80);
