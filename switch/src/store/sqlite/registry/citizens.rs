//! Citizens on SQLite: MyKey profiles, their cards (renewals), revocation and MyKey ID
//! changes, service IDs.

use super::*;
use crate::mail::templates::IdentityEvent;
use crate::store::sqlite::outbox::write_identity_mail;

pub(super) fn mykey_taken(c: &Connection, mykey: &str) -> rusqlite::Result<bool> {
    let held = c.query_row("SELECT 1 FROM wallets WHERE mykey_id = ?1", [mykey], |_| Ok(())).optional()?;
    let retired = c.query_row("SELECT 1 FROM retired_mykey_ids WHERE mykey_id = ?1", [mykey], |_| Ok(())).optional()?;
    Ok(held.is_some() || retired.is_some())
}

/// Who holds the card now: (wallet, active?).
pub(super) fn card_holder(c: &Connection, serial: &str) -> rusqlite::Result<Option<(i64, bool)>> {
    c.query_row(
        "SELECT w.wallet_id, w.status FROM cards c JOIN wallets w USING (wallet_id) WHERE c.cert_serial = ?1",
        [serial],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u8>(1)? == WalletStatus::Active as u8)),
    )
    .optional()
}

pub(super) fn create_citizen(
    c: &mut Connection,
    n: &NewCitizen,
) -> rusqlite::Result<Result<WalletId, IdentityConflict>> {
    let tx = c.transaction()?;
    if mykey_taken(&tx, n.mykey_id.as_str())? {
        return Ok(Err(IdentityConflict::MyKeyTaken));
    }
    match card_holder(&tx, &n.card.cert_serial)? {
        Some((_, true)) => return Ok(Err(IdentityConflict::CardLinked)),
        // F57 DEFAULT: after revoking, the citizen may create a new MyKey ID with the same card.
        Some((_, false)) => {
            tx.execute("DELETE FROM cards WHERE cert_serial = ?1", [&n.card.cert_serial])?;
        }
        None => {}
    }
    let wallet: i64 = tx.query_row("SELECT COALESCE(MAX(wallet_id), 0) + 1 FROM wallets", [], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO wallets (wallet_id, mykey_id, status, version) VALUES (?1, ?2, ?3, 0)",
        params![wallet, n.mykey_id.as_str(), WalletStatus::Active as u8],
    )?;
    tx.execute(
        "INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES (?1, ?2, ?3)",
        params![n.card.cert_serial, wallet, n.card.expires_on],
    )?;
    tx.execute(
        "INSERT INTO citizens (wallet_id, password_hash, email, notify, default_municipality, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            wallet,
            n.password_hash,
            n.email,
            n.notify.bits(),
            n.default_municipality.as_ref().map(|m| m.as_str().to_owned()),
            n.now_ms as i64
        ],
    )?;
    write_identity_mail(&tx, wallet, IdentityEvent::MyKeyRegistered, n.now_ms)?;
    tx.commit()?;
    Ok(Ok(WalletId(wallet as u64)))
}

pub(super) fn citizen(c: &Connection, wallet: WalletId) -> rusqlite::Result<Option<CitizenRecord>> {
    let found = c
        .prepare_cached(
            "SELECT w.mykey_id, w.status, p.password_hash, p.email, COALESCE(p.notify, 0), p.default_municipality
             FROM wallets w LEFT JOIN citizens p USING (wallet_id) WHERE w.wallet_id = ?1",
        )?
        .query_row([wallet.0 as i64], |r| {
            let default: Option<String> = r.get(5)?;
            Ok(CitizenRecord {
                wallet,
                mykey_id: mykey_at(r, 0)?,
                status: WalletStatus::from_u8(r.get(1)?).ok_or_else(|| bad(1, "wallet status"))?,
                card: None,
                password_hash: r.get(2)?,
                email: r.get(3)?,
                notify: NotifyChoices::from_bits(r.get(4)?),
                default_municipality: default.and_then(|d| d.parse().ok()),
            })
        })
        .optional()?;
    let Some(mut record) = found else { return Ok(None) };
    record.card = c
        .prepare_cached("SELECT cert_serial, expires_on FROM cards WHERE wallet_id = ?1 ORDER BY cert_serial LIMIT 1")?
        .query_row([wallet.0 as i64], |r| {
            Ok(CardLink { cert_serial: r.get(0)?, expires_on: r.get::<_, Option<u32>>(1)?.unwrap_or(0) })
        })
        .optional()?;
    Ok(Some(record))
}

/// A profile row for a wallet created before profiles existed (the demo's citizens).
pub(super) fn ensure_profile(tx: &Transaction<'_>, wallet: WalletId, now_ms: u64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO citizens (wallet_id, created_at_ms) VALUES (?1, ?2) ON CONFLICT (wallet_id) DO NOTHING",
        params![wallet.0 as i64, now_ms as i64],
    )?;
    Ok(())
}

pub(super) fn update_profile(c: &mut Connection, wallet: WalletId, change: &ProfileChange) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    let now_ms = chrono::Utc::now().timestamp_millis() as u64;
    ensure_profile(&tx, wallet, now_ms)?;
    let w = wallet.0 as i64;
    if let Some(email) = &change.email {
        tx.execute("UPDATE citizens SET email = ?2 WHERE wallet_id = ?1", params![w, email])?;
    }
    if let Some(hash) = &change.password_hash {
        tx.execute("UPDATE citizens SET password_hash = ?2 WHERE wallet_id = ?1", params![w, hash])?;
    }
    if let Some(notify) = change.notify {
        tx.execute("UPDATE citizens SET notify = ?2 WHERE wallet_id = ?1", params![w, notify.bits()])?;
    }
    if let Some(default) = &change.default_municipality {
        tx.execute("UPDATE citizens SET default_municipality = ?2 WHERE wallet_id = ?1", params![w, default.as_str()])?;
    }
    if change.password_hash.is_some() {
        write_identity_mail(&tx, w, IdentityEvent::PasswordChanged, now_ms)?;
    }
    tx.commit()
}

pub(super) fn revoke(c: &mut Connection, wallet: WalletId, now_ms: u64) -> rusqlite::Result<bool> {
    let tx = c.transaction()?;
    let changed = tx.execute(
        "UPDATE wallets SET status = ?2 WHERE wallet_id = ?1",
        params![wallet.0 as i64, WalletStatus::Revoked as u8],
    )?;
    if changed == 1 {
        ensure_profile(&tx, wallet, now_ms)?;
        tx.execute(
            "UPDATE citizens SET revoked_at_ms = COALESCE(revoked_at_ms, ?2) WHERE wallet_id = ?1",
            params![wallet.0 as i64, now_ms as i64],
        )?;
        write_identity_mail(&tx, wallet.0 as i64, IdentityEvent::MyKeyRevoked, now_ms)?;
    }
    tx.commit()?;
    Ok(changed == 1)
}

pub(super) fn change_mykey(
    c: &mut Connection,
    wallet: WalletId,
    new: MyKeyId,
    card: &CardLink,
    now_ms: u64,
) -> rusqlite::Result<Result<(), IdentityConflict>> {
    let tx = c.transaction()?;
    if mykey_taken(&tx, new.as_str())? {
        return Ok(Err(IdentityConflict::MyKeyTaken));
    }
    if let Some((holder, _)) = card_holder(&tx, &card.cert_serial)? {
        if holder != wallet.0 as i64 {
            return Ok(Err(IdentityConflict::CardLinked));
        }
    }
    let w = wallet.0 as i64;
    let old: Option<String> =
        tx.query_row("SELECT mykey_id FROM wallets WHERE wallet_id = ?1", [w], |r| r.get(0)).optional()?;
    tx.execute(
        "INSERT INTO retired_mykey_ids (mykey_id, wallet_id, retired_at_ms)
         SELECT mykey_id, wallet_id, ?2 FROM wallets WHERE wallet_id = ?1",
        params![w, now_ms as i64],
    )?;
    tx.execute("UPDATE wallets SET mykey_id = ?2 WHERE wallet_id = ?1", params![w, new.as_str()])?;
    tx.execute("DELETE FROM cards WHERE wallet_id = ?1", [w])?;
    tx.execute(
        "INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES (?1, ?2, ?3)",
        params![card.cert_serial, w, card.expires_on],
    )?;
    write_identity_mail(&tx, w, IdentityEvent::MyKeyChanged { old: old.as_deref().unwrap_or_default() }, now_ms)?;
    tx.commit()?;
    Ok(Ok(()))
}

pub(super) fn adopt_renewed_card(
    c: &mut Connection,
    new_serial: &str,
) -> rusqlite::Result<Option<(WalletId, MyKeyId)>> {
    let tx = c.transaction()?;
    let renewal: Option<(String, u32, Option<String>)> = tx
        .query_row(
            "SELECT old_serial, new_expires_on, new_signing_serial FROM card_renewals WHERE new_serial = ?1",
            [new_serial],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((old, expires, signing)) = renewal else { return Ok(None) };
    let holder: Option<(i64, MyKeyId)> = tx
        .query_row(
            "SELECT w.wallet_id, w.mykey_id FROM cards c JOIN wallets w USING (wallet_id) WHERE c.cert_serial = ?1",
            [&old],
            |r| Ok((r.get(0)?, mykey_at(r, 1)?)),
        )
        .optional()?;
    let Some((wallet, mykey)) = holder else { return Ok(None) };
    tx.execute(
        "UPDATE cards SET cert_serial = ?2, expires_on = ?3 WHERE cert_serial = ?1",
        params![old, new_serial, expires],
    )?;
    if let Some(signing) = signing {
        // R13: the signing certificate follows, for those who asked for address notifications.
        tx.execute(
            "UPDATE service_ids SET signing_cert_serial = ?2 WHERE wallet_id = ?1 AND signing_cert_serial IS NOT NULL",
            params![wallet, signing],
        )?;
    }
    tx.commit()?;
    Ok(Some((WalletId(wallet as u64), mykey)))
}

pub(super) fn register_service_id(
    c: &mut Connection,
    link: &ServiceIdLink,
) -> rusqlite::Result<Result<bool, ServiceIdRefusal>> {
    let tx = c.transaction()?;
    let known =
        tx.query_row("SELECT 1 FROM id_issuers WHERE issuer_id = ?1", [&link.issuer_id], |_| Ok(())).optional()?;
    if known.is_none() {
        return Ok(Err(ServiceIdRefusal::UnknownIssuer));
    }
    let owner: Option<i64> = tx
        .query_row(
            "SELECT wallet_id FROM service_ids WHERE issuer_id = ?1 AND customer_id = ?2",
            [&link.issuer_id, &link.customer_id],
            |r| r.get(0),
        )
        .optional()?;
    if owner.is_some_and(|o| o != link.wallet.0 as i64) {
        return Ok(Err(ServiceIdRefusal::CustomerIdTaken));
    }
    let replaced = tx.execute(
        "DELETE FROM service_ids WHERE wallet_id = ?1 AND issuer_id = ?2",
        params![link.wallet.0 as i64, link.issuer_id],
    )? == 1;
    tx.execute(
        "INSERT INTO service_ids (wallet_id, issuer_id, customer_id, signing_cert_serial, registered_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![link.wallet.0 as i64, link.issuer_id, link.customer_id, link.signing_cert_serial, link.now_ms as i64],
    )?;
    tx.commit()?;
    // Registering the same customer id again is not a replacement.
    Ok(Ok(replaced && owner.is_none()))
}

pub(super) fn service_ids_of(c: &Connection, wallet: WalletId) -> rusqlite::Result<Vec<ServiceIdRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT s.issuer_id, i.name, s.customer_id, s.signing_cert_serial IS NOT NULL, s.registered_at_ms
         FROM service_ids s JOIN id_issuers i USING (issuer_id) WHERE s.wallet_id = ?1 ORDER BY s.issuer_id",
    )?;
    let rows = stmt.query_map([wallet.0 as i64], |r| {
        Ok(ServiceIdRow {
            issuer_id: r.get(0)?,
            issuer_name: r.get(1)?,
            customer_id: r.get(2)?,
            address_notification: r.get(3)?,
            registered_at_ms: r.get::<_, i64>(4)? as u64,
        })
    })?;
    rows.collect()
}
