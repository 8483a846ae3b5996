-- Schema version 7: the ledger commits a batch in one round trip when nothing in it conflicts
-- (commit/optimistic.rs). Its statements check the batch themselves and raise through
-- switch_require when a check fails, which aborts the transaction before the pipelined COMMIT.
CREATE FUNCTION switch_require(ok boolean, what text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'batch refused: %', what USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN true;
END
$$;
-- Only voids carry voids_entry_id: indexing every other entry's NULL was one more index write
-- per redemption. (Building the new index reads the journal once, inside this migration.)
ALTER TABLE journal DROP CONSTRAINT journal_voids_entry_id_key;
CREATE UNIQUE INDEX journal_voids ON journal (voids_entry_id) WHERE voids_entry_id IS NOT NULL;
