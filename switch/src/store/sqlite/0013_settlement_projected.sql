-- Schema version 13: how far the journal engine's settlement projection is, kept beside the
-- lines it wrote (in the same transaction), so a starting switch reads one row instead of
-- MAX(entry_id) over every settlement line (a full read: the table's key is the book's time
-- order). Every entry up to entry_id has its lines in settlement_lines. The SQLite engine writes
-- lines in each entry's own batch and never reads this; `switch migrate` into the journal layout
-- sets it to the last entry it moves.
CREATE TABLE settlement_projected (
    only     INTEGER PRIMARY KEY CHECK (only = 1),
    entry_id INTEGER NOT NULL
);
-- The one full read, here, once: what the projection had reached.
INSERT INTO settlement_projected (only, entry_id) SELECT 1, COALESCE(MAX(entry_id), 0) FROM settlement_lines;
