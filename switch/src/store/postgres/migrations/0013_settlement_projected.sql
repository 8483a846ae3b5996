-- Schema version 13: the embedded store's settlement_projected (how far the journal engine's
-- settlement projection is). The PostgreSQL store writes every entry's settlement lines in the
-- entry's own transaction and projects nothing, so nothing changes here; the version keeps the
-- two stores' numbers meaning the same schema.
SELECT 1;
