//! Loads the Kawasaki sample (rows from [`crate::store::seed`]) into an empty PostgreSQL store,
//! in one transaction, citizens in chunks of array inserts (a handful of round trips per chunk).

use deadpool_postgres::ClientWrapper;
use futures::try_join;
use tokio_postgres::types::ToSql;

use super::PgError;
use crate::store::seed::{catalog_rows, citizens, SeedOptions, SeedSummary, CARD_EXPIRES_ON};

type Param<'a> = dyn ToSql + Sync + 'a;

/// Citizens per chunk of array inserts.
const CHUNK_CITIZENS: usize = 20_000;

pub(super) async fn is_seeded(c: &ClientWrapper) -> Result<bool, PgError> {
    Ok(c.query_one("SELECT EXISTS (SELECT 1 FROM municipalities)", &[]).await?.try_get(0)?)
}

pub(super) async fn load(c: &ClientWrapper, options: &SeedOptions) -> Result<SeedSummary, PgError> {
    // Hashing passwords is the slow part of a small seed: off the I/O threads, outside the
    // transaction.
    let for_hashing = options.clone();
    let catalog = tokio::task::spawn_blocking(move || catalog_rows(&for_hashing))
        .await
        .map_err(|e| PgError::Pool(format!("hashing terminal passwords: {e}")))?;
    c.batch_execute("BEGIN; SET LOCAL statement_timeout = 0").await?;
    let (code, name, point_name) = catalog.municipality;
    let (event_code, event_name, owner, from, to) = catalog.event;
    let location_ids: Vec<i32> = catalog.locations.iter().map(|(id, _)| *id as i32).collect();
    let location_names: Vec<&str> = catalog.locations.iter().map(|(_, n)| n.as_str()).collect();
    let t = &catalog.terminals;
    let terminal_ids: Vec<i32> = t.iter().map(|t| t.terminal_id as i32).collect();
    let kinds: Vec<i16> = t.iter().map(|t| i16::from(t.kind)).collect();
    let terminal_locations: Vec<i32> = t.iter().map(|t| t.location_id as i32).collect();
    let terminal_names: Vec<&str> = t.iter().map(|t| t.terminal_name.as_str()).collect();
    let issuers: Vec<Option<&str>> = t.iter().map(|t| t.id_issuer).collect();
    let hashes: Vec<&str> = t.iter().map(|t| t.password_hash.as_str()).collect();
    let fingerprints: Vec<&[u8]> = t.iter().map(|t| t.fingerprint.as_slice()).collect();
    let event_terminals: Vec<i32> = catalog.event_terminals.iter().map(|id| *id as i32).collect();
    let from = from as i32;
    let to = to as i32;
    let municipality: [&Param<'_>; 3] = [&code, &name, &point_name];
    let locations: [&Param<'_>; 3] = [&code, &location_ids, &location_names];
    let terminals: [&Param<'_>; 8] =
        [&code, &terminal_ids, &kinds, &terminal_locations, &terminal_names, &issuers, &hashes, &fingerprints];
    let event: [&Param<'_>; 5] = [&event_code, &event_name, &owner, &from, &to];
    let event_terminal_params: [&Param<'_>; 2] = [&event_code, &event_terminals];
    try_join!(
        c.execute("INSERT INTO municipalities (code, name, point_name) VALUES ($1, $2, $3)", &municipality),
        c.execute(
            "INSERT INTO locations (location_id, municipality, name)
             SELECT id, $1, name FROM unnest($2::int[], $3::text[]) AS l(id, name)",
            &locations,
        ),
        c.execute(
            "INSERT INTO terminals (terminal_id, kind, municipality, location_id, terminal_name, id_issuer,
                                    password_hash, fingerprint, registered_at_ms)
             SELECT id, kind, $1, location_id, name, issuer, hash, fingerprint,
                    (extract(epoch FROM now()) * 1000)::bigint
             FROM unnest($2::int[], $3::smallint[], $4::int[], $5::text[], $6::text[], $7::text[], $8::bytea[])
                  AS t(id, kind, location_id, name, issuer, hash, fingerprint)",
            &terminals,
        ),
        c.execute(
            "INSERT INTO events (code, name, owner_code, service_from, service_to) VALUES ($1, $2, $3, $4, $5)",
            &event,
        ),
        c.execute(
            "INSERT INTO event_terminals (event_code, terminal_id) SELECT $1, unnest($2::int[])",
            &event_terminal_params,
        ),
    )?;

    let head = c.query_one("SELECT COALESCE(MAX(entry_id), 0), MAX(txn_no) FROM journal", &[]).await?;
    let last_entry: i64 = head.try_get(0)?;
    let last_txn: Option<String> = head.try_get(1)?;
    let mut rows = citizens(options, catalog.event_lot(), last_entry as u64, last_txn.and_then(|t| t.parse().ok()));
    loop {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK_CITIZENS).collect();
        if chunk.is_empty() {
            break;
        }
        insert_citizens(c, &chunk).await?;
    }
    c.batch_execute("COMMIT").await?;
    Ok(SeedSummary { terminals: catalog.terminals.len(), citizens: options.citizens })
}

async fn insert_citizens(c: &ClientWrapper, chunk: &[crate::store::seed::CitizenRows]) -> Result<(), PgError> {
    let wallet_ids: Vec<i64> = chunk.iter().map(|r| r.wallet_id).collect();
    let mykeys: Vec<&str> = chunk.iter().map(|r| r.mykey_id.as_str()).collect();
    let serials: Vec<&str> = chunk.iter().map(|r| r.cert_serial.as_str()).collect();
    let entry_ids: Vec<i64> = chunk.iter().map(|r| r.entry_id).collect();
    let txn_nos: Vec<&str> = chunk.iter().map(|r| r.txn_no.as_str()).collect();
    let kinds: Vec<i16> = chunk.iter().map(|r| i16::from(r.kind)).collect();
    let created: Vec<i64> = chunk.iter().map(|r| r.created_at_ms).collect();
    let dates: Vec<i32> = chunk.iter().map(|r| r.business_date as i32).collect();
    let accounts: Vec<&str> = chunk.iter().map(|r| r.account.as_str()).collect();
    let points: Vec<i64> = chunk.iter().map(|r| r.points).collect();
    let (mut lot_wallets, mut lot_accounts, mut lot_keys, mut lot_amounts) = (vec![], vec![], vec![], vec![]);
    for r in chunk {
        for (account, lot, amount) in &r.lots {
            lot_wallets.push(r.wallet_id);
            lot_accounts.push(account.as_str());
            lot_keys.push(*lot as i32);
            lot_amounts.push(*amount);
        }
    }
    let (mut p_entries, mut p_seqs, mut p_wallets, mut p_accounts, mut p_lots, mut p_amounts) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for r in chunk {
        for (seq, wallet, account, lot, amount) in &r.postings {
            p_entries.push(r.entry_id);
            p_seqs.push(*seq as i32);
            p_wallets.push(*wallet);
            p_accounts.push(account.as_str());
            p_lots.push(*lot as i32);
            p_amounts.push(*amount);
        }
    }
    let hashes: Vec<&str> = chunk.iter().map(|r| &*r.mypage_password_hash).collect();
    let defaults: Vec<&str> = chunk.iter().map(|r| r.default_municipality).collect();
    let customers: Vec<&str> = chunk.iter().map(|r| r.partner_customer_id.as_str()).collect();
    let issuer = actors::demo::DEMO_PARTNER_ISSUER;
    let profiles: [&Param<'_>; 4] = [&wallet_ids, &hashes, &defaults, &created];
    let service_ids: [&Param<'_>; 4] = [&wallet_ids, &issuer, &customers, &created];
    let expires_on = CARD_EXPIRES_ON as i32;
    let wallets: [&Param<'_>; 2] = [&wallet_ids, &mykeys];
    let cards: [&Param<'_>; 3] = [&serials, &wallet_ids, &expires_on];
    let journal: [&Param<'_>; 8] = [&entry_ids, &txn_nos, &kinds, &created, &dates, &wallet_ids, &accounts, &points];
    let lots: [&Param<'_>; 4] = [&lot_wallets, &lot_accounts, &lot_keys, &lot_amounts];
    let postings: [&Param<'_>; 6] = [&p_entries, &p_seqs, &p_wallets, &p_accounts, &p_lots, &p_amounts];
    try_join!(
        c.execute(
            "INSERT INTO wallets (wallet_id, mykey_id, status, version) SELECT id, mykey, 1, 1
             FROM unnest($1::bigint[], $2::text[]) AS w(id, mykey)",
            &wallets,
        ),
        c.execute(
            "INSERT INTO cards (cert_serial, wallet_id, expires_on) SELECT serial, id, $3
             FROM unnest($1::text[], $2::bigint[]) AS c(serial, id)",
            &cards,
        ),
        c.execute(
            "INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, wallet_id, account, points,
                                  balance_after)
             SELECT e, t, k, c, d, w, a, p, p
             FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::bigint[], $5::int[], $6::bigint[], $7::text[],
                         $8::bigint[]) AS j(e, t, k, c, d, w, a, p)",
            &journal,
        ),
        c.execute(
            "INSERT INTO wallet_lots (wallet_id, account, lot, amount)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[])",
            &lots,
        ),
        c.execute(
            "INSERT INTO postings (entry_id, seq, wallet_id, account, lot, amount)
             SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::int[], $6::bigint[])",
            &postings,
        ),
        c.execute(
            "INSERT INTO citizens (wallet_id, password_hash, notify, default_municipality, created_at_ms)
             SELECT id, hash, 0, def, at FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])
                  AS z(id, hash, def, at)",
            &profiles,
        ),
        c.execute(
            "INSERT INTO service_ids (wallet_id, issuer_id, customer_id, registered_at_ms)
             SELECT id, $2, customer, at FROM unnest($1::bigint[], $3::text[], $4::bigint[]) AS s(id, customer, at)",
            &service_ids,
        ),
    )?;
    Ok(())
}
