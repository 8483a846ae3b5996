-- A store as a version-1 switch left it: one municipality, one citizen with an opening grant.
INSERT INTO municipalities (code, name, point_name) VALUES ('141305', '川崎市', '川崎市ポイント');
INSERT INTO wallets (wallet_id, mykey_id, status, version) VALUES (1, 'MY123456', 1, 1);
INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES ('030D45', 1, 20301231);
INSERT INTO wallet_lots (wallet_id, account, lot, amount) VALUES (1, 'M141305', 99991231, 1000);
INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, wallet_id, account, points, balance_after)
    VALUES (1, '20260401090000000001', 3, 1775001600000, 20260401, 1, 'M141305', 1000, 1000);
INSERT INTO postings (entry_id, seq, wallet_id, account, lot, amount) VALUES
    (1, 0, 1, 'M141305', 99991231, 1000),
    (1, 1, NULL, 'I:M141305', 0, -1000);
