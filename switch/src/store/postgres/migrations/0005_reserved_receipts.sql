-- Schema version 5: the citizen's reserved history (画面51, R26) lists the receipts from partner
-- companies. A partial index holds only partner credits to the reserved account, so terminal
-- redemptions write nothing more (the journal has no wallet index, see version 2).
CREATE INDEX journal_reserved_receipts ON journal (wallet_id, entry_id) WHERE kind = 4 AND account = 'R';
