-- A store as a version-1 switch left it: one municipality, one citizen with an opening grant,
-- two redemptions at location 1 and the void of the second.
INSERT INTO municipalities (code, name, point_name) VALUES ('141305', '川崎市', '川崎市ポイント');
INSERT INTO wallets (wallet_id, mykey_id, status, version) VALUES (1, 'MY123456', 1, 4);
INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES ('030D45', 1, 20301231);
INSERT INTO wallet_lots (wallet_id, account, lot, amount) VALUES (1, 'M141305', 99991231, 700);
INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, wallet_id, account, points, balance_after)
    VALUES (1, '20260401090000000001', 3, 1775001600000, 20260401, 1, 'M141305', 1000, 1000);
INSERT INTO postings (entry_id, seq, wallet_id, account, lot, amount) VALUES
    (1, 0, 1, 'M141305', 99991231, 1000),
    (1, 1, NULL, 'I:M141305', 0, -1000);
INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, wallet_id, idem_key, terminal_id,
                     municipality, location_id, account, points, balance_after, voids_entry_id, voids_txn_no) VALUES
    (2, '20260402100000000001', 1, 1775091600000, 20260402, 1, 'T52559:1', 52559, '141305', 1, 'M141305', 300, 700,
     NULL, NULL),
    (3, '20260402100000000002', 1, 1775091600000, 20260402, 1, 'T52559:2', 52559, '141305', 1, 'M141305', 200, 500,
     NULL, NULL),
    (4, '20260402100000000003', 2, 1775091600000, 20260402, 1, 'T52559:3', 52559, '141305', 1, 'M141305', 200, 700,
     3, '20260402100000000002');
INSERT INTO postings (entry_id, seq, wallet_id, account, lot, amount) VALUES
    (2, 0, 1, 'M141305', 99991231, -300),
    (2, 1, NULL, 'L1', 0, 300),
    (3, 0, 1, 'M141305', 99991231, -200),
    (3, 1, NULL, 'L1', 0, 200),
    (4, 0, 1, 'M141305', 99991231, 200),
    (4, 1, NULL, 'L1', 0, -200);
