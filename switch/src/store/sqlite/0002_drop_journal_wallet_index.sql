-- Schema version 2: the journal_wallet index took a random page write per redemption and grew
-- with the journal; only `switch check` read it, and it groups the journal by wallet anyway.
DROP INDEX IF EXISTS journal_wallet;
