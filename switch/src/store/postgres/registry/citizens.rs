//! Citizens on PostgreSQL: MyKey profiles, their cards (renewals), revocation and MyKey ID
//! changes, service IDs.

use super::*;
use crate::mail::templates::IdentityEvent;
use crate::store::postgres::outbox::write_identity_mail;

pub(super) async fn mykey_taken(c: &ClientWrapper, mykey: &str) -> Result<bool, PgError> {
    let row = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM wallets WHERE mykey_id = $1)
                 OR EXISTS (SELECT 1 FROM retired_mykey_ids WHERE mykey_id = $1)",
            &[&mykey],
        )
        .await?;
    col(&row, 0)
}

/// Who holds the card now: (wallet, active?).
pub(super) async fn card_holder(c: &ClientWrapper, serial: &str) -> Result<Option<(i64, bool)>, PgError> {
    let row = c
        .query_opt(
            "SELECT w.wallet_id, w.status FROM cards c JOIN wallets w ON w.wallet_id = c.wallet_id
             WHERE c.cert_serial = $1 FOR UPDATE",
            &[&serial],
        )
        .await?;
    row.map(|r| Ok((col::<i64>(&r, 0)?, col::<i16>(&r, 1)? == WalletStatus::Active as i16))).transpose()
}

pub(super) async fn create_citizen(
    c: &ClientWrapper,
    n: &NewCitizen,
) -> Result<Result<WalletId, IdentityConflict>, PgError> {
    begin(c, true).await?;
    if mykey_taken(c, n.mykey_id.as_str()).await? {
        return refuse(c, Err(IdentityConflict::MyKeyTaken)).await;
    }
    match card_holder(c, &n.card.cert_serial).await? {
        Some((_, true)) => return refuse(c, Err(IdentityConflict::CardLinked)).await,
        // F57 DEFAULT: after revoking, the citizen may create a new MyKey ID with the same card.
        Some((_, false)) => {
            c.execute("DELETE FROM cards WHERE cert_serial = $1", &[&n.card.cert_serial]).await?;
        }
        None => {}
    }
    let wallet: i64 = col(&c.query_one("SELECT COALESCE(MAX(wallet_id), 0) + 1 FROM wallets", &[]).await?, 0)?;
    c.execute(
        "INSERT INTO wallets (wallet_id, mykey_id, status, version) VALUES ($1, $2, $3, 0)",
        &[&wallet, &n.mykey_id.as_str(), &(WalletStatus::Active as i16)],
    )
    .await?;
    c.execute(
        "INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES ($1, $2, $3)",
        &[&n.card.cert_serial, &wallet, &(n.card.expires_on as i32)],
    )
    .await?;
    c.execute(
        "INSERT INTO citizens (wallet_id, password_hash, email, notify, default_municipality, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &wallet,
            &n.password_hash,
            &n.email,
            &(n.notify.bits() as i16),
            &n.default_municipality.as_ref().map(|m| m.as_str().to_owned()),
            &(n.now_ms as i64),
        ],
    )
    .await?;
    write_identity_mail(c, wallet, IdentityEvent::MyKeyRegistered, n.now_ms).await?;
    commit(c).await?;
    Ok(Ok(WalletId(wallet as u64)))
}

pub(super) async fn citizen(c: &ClientWrapper, wallet: WalletId) -> Result<Option<CitizenRecord>, PgError> {
    let w = wallet.0 as i64;
    // `notify` is SMALLINT; a bare `0` would make COALESCE an INTEGER, which does not read as i16.
    let Some(r) = c
        .query_opt(
            "SELECT w.mykey_id, w.status, p.password_hash, p.email, COALESCE(p.notify, 0::smallint),
                    p.default_municipality
             FROM wallets w LEFT JOIN citizens p ON p.wallet_id = w.wallet_id WHERE w.wallet_id = $1",
            &[&w],
        )
        .await?
    else {
        return Ok(None);
    };
    let status: i16 = col(&r, 1)?;
    let default: Option<String> = col(&r, 5)?;
    let card = c
        .query_opt("SELECT cert_serial, expires_on FROM cards WHERE wallet_id = $1 ORDER BY cert_serial LIMIT 1", &[&w])
        .await?
        .map(|r| {
            Ok::<_, PgError>(CardLink {
                cert_serial: col(&r, 0)?,
                expires_on: col::<Option<i32>>(&r, 1)?.unwrap_or(0) as u32,
            })
        })
        .transpose()?;
    Ok(Some(CitizenRecord {
        wallet,
        mykey_id: mykey_of(&r, 0)?,
        status: WalletStatus::from_u8(status as u8).ok_or_else(|| bad("wallet status", status))?,
        card,
        password_hash: col(&r, 2)?,
        email: col(&r, 3)?,
        notify: NotifyChoices::from_bits(col::<i16>(&r, 4)? as u8),
        default_municipality: default.and_then(|d| d.parse().ok()),
    }))
}

/// A profile row for a wallet created before profiles existed (the demo's citizens).
pub(super) async fn ensure_profile(c: &ClientWrapper, wallet: i64, now_ms: u64) -> Result<(), PgError> {
    c.execute(
        "INSERT INTO citizens (wallet_id, created_at_ms) VALUES ($1, $2) ON CONFLICT (wallet_id) DO NOTHING",
        &[&wallet, &(now_ms as i64)],
    )
    .await?;
    Ok(())
}

pub(super) async fn update_profile(c: &ClientWrapper, wallet: WalletId, change: &ProfileChange) -> Result<(), PgError> {
    let w = wallet.0 as i64;
    begin(c, false).await?;
    let now_ms = chrono::Utc::now().timestamp_millis() as u64;
    ensure_profile(c, w, now_ms).await?;
    if let Some(email) = &change.email {
        c.execute("UPDATE citizens SET email = $2 WHERE wallet_id = $1", &[&w, email]).await?;
    }
    if let Some(hash) = &change.password_hash {
        c.execute("UPDATE citizens SET password_hash = $2 WHERE wallet_id = $1", &[&w, hash]).await?;
    }
    if let Some(notify) = change.notify {
        c.execute("UPDATE citizens SET notify = $2 WHERE wallet_id = $1", &[&w, &(notify.bits() as i16)]).await?;
    }
    if let Some(default) = &change.default_municipality {
        c.execute("UPDATE citizens SET default_municipality = $2 WHERE wallet_id = $1", &[&w, &default.as_str()])
            .await?;
    }
    if change.password_hash.is_some() {
        write_identity_mail(c, w, IdentityEvent::PasswordChanged, now_ms).await?;
    }
    commit(c).await
}

pub(super) async fn revoke(c: &ClientWrapper, wallet: WalletId, now_ms: u64) -> Result<bool, PgError> {
    let w = wallet.0 as i64;
    begin(c, false).await?;
    let changed = c
        .execute("UPDATE wallets SET status = $2 WHERE wallet_id = $1", &[&w, &(WalletStatus::Revoked as i16)])
        .await?;
    if changed == 1 {
        ensure_profile(c, w, now_ms).await?;
        c.execute(
            "UPDATE citizens SET revoked_at_ms = COALESCE(revoked_at_ms, $2) WHERE wallet_id = $1",
            &[&w, &(now_ms as i64)],
        )
        .await?;
        write_identity_mail(c, w, IdentityEvent::MyKeyRevoked, now_ms).await?;
    }
    commit(c).await?;
    Ok(changed == 1)
}

pub(super) async fn change_mykey(
    c: &ClientWrapper,
    wallet: WalletId,
    new: MyKeyId,
    card: &CardLink,
    now_ms: u64,
) -> Result<Result<(), IdentityConflict>, PgError> {
    let w = wallet.0 as i64;
    begin(c, true).await?;
    if mykey_taken(c, new.as_str()).await? {
        return refuse(c, Err(IdentityConflict::MyKeyTaken)).await;
    }
    if let Some((holder, _)) = card_holder(c, &card.cert_serial).await? {
        if holder != w {
            return refuse(c, Err(IdentityConflict::CardLinked)).await;
        }
    }
    let old: Option<String> =
        c.query_opt("SELECT mykey_id FROM wallets WHERE wallet_id = $1", &[&w]).await?.map(|r| r.get(0));
    c.execute(
        "INSERT INTO retired_mykey_ids (mykey_id, wallet_id, retired_at_ms)
         SELECT mykey_id, wallet_id, $2 FROM wallets WHERE wallet_id = $1",
        &[&w, &(now_ms as i64)],
    )
    .await?;
    c.execute("UPDATE wallets SET mykey_id = $2 WHERE wallet_id = $1", &[&w, &new.as_str()]).await?;
    c.execute("DELETE FROM cards WHERE wallet_id = $1", &[&w]).await?;
    c.execute(
        "INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES ($1, $2, $3)",
        &[&card.cert_serial, &w, &(card.expires_on as i32)],
    )
    .await?;
    write_identity_mail(c, w, IdentityEvent::MyKeyChanged { old: old.as_deref().unwrap_or_default() }, now_ms).await?;
    commit(c).await?;
    Ok(Ok(()))
}

pub(super) async fn adopt_renewed_card(
    c: &ClientWrapper,
    new_serial: &str,
) -> Result<Option<(WalletId, MyKeyId)>, PgError> {
    begin(c, false).await?;
    let Some(renewal) = c
        .query_opt(
            "SELECT old_serial, new_expires_on, new_signing_serial FROM card_renewals WHERE new_serial = $1",
            &[&new_serial],
        )
        .await?
    else {
        return refuse(c, None).await;
    };
    let old: String = col(&renewal, 0)?;
    let expires: i32 = col(&renewal, 1)?;
    let signing: Option<String> = col(&renewal, 2)?;
    let Some(holder) = c
        .query_opt(
            "SELECT w.wallet_id, w.mykey_id FROM cards c JOIN wallets w ON w.wallet_id = c.wallet_id
             WHERE c.cert_serial = $1 FOR UPDATE",
            &[&old],
        )
        .await?
    else {
        return refuse(c, None).await;
    };
    let wallet: i64 = col(&holder, 0)?;
    let mykey = mykey_of(&holder, 1)?;
    c.execute(
        "UPDATE cards SET cert_serial = $2, expires_on = $3 WHERE cert_serial = $1",
        &[&old, &new_serial, &expires],
    )
    .await?;
    if let Some(signing) = signing {
        // R13: the signing certificate follows, for those who asked for address notifications.
        c.execute(
            "UPDATE service_ids SET signing_cert_serial = $2 WHERE wallet_id = $1 AND signing_cert_serial IS NOT NULL",
            &[&wallet, &signing],
        )
        .await?;
    }
    commit(c).await?;
    Ok(Some((WalletId(wallet as u64), mykey)))
}

pub(super) async fn register_service_id(
    c: &ClientWrapper,
    link: &ServiceIdLink,
) -> Result<Result<bool, ServiceIdRefusal>, PgError> {
    let w = link.wallet.0 as i64;
    begin(c, true).await?;
    if c.query_opt("SELECT 1 FROM id_issuers WHERE issuer_id = $1", &[&link.issuer_id]).await?.is_none() {
        return refuse(c, Err(ServiceIdRefusal::UnknownIssuer)).await;
    }
    let owner: Option<i64> = c
        .query_opt(
            "SELECT wallet_id FROM service_ids WHERE issuer_id = $1 AND customer_id = $2",
            &[&link.issuer_id, &link.customer_id],
        )
        .await?
        .map(|r| col(&r, 0))
        .transpose()?;
    if owner.is_some_and(|o| o != w) {
        return refuse(c, Err(ServiceIdRefusal::CustomerIdTaken)).await;
    }
    let replaced =
        c.execute("DELETE FROM service_ids WHERE wallet_id = $1 AND issuer_id = $2", &[&w, &link.issuer_id]).await?
            == 1;
    c.execute(
        "INSERT INTO service_ids (wallet_id, issuer_id, customer_id, signing_cert_serial, registered_at_ms)
         VALUES ($1, $2, $3, $4, $5)",
        &[&w, &link.issuer_id, &link.customer_id, &link.signing_cert_serial, &(link.now_ms as i64)],
    )
    .await?;
    commit(c).await?;
    // Registering the same customer id again is not a replacement.
    Ok(Ok(replaced && owner.is_none()))
}

pub(super) async fn service_ids_of(c: &ClientWrapper, wallet: WalletId) -> Result<Vec<ServiceIdRow>, PgError> {
    let rows = c
        .query(
            "SELECT s.issuer_id, i.name, s.customer_id, s.signing_cert_serial IS NOT NULL, s.registered_at_ms
             FROM service_ids s JOIN id_issuers i ON i.issuer_id = s.issuer_id
             WHERE s.wallet_id = $1 ORDER BY s.issuer_id",
            &[&(wallet.0 as i64)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ServiceIdRow {
                issuer_id: col(r, 0)?,
                issuer_name: col(r, 1)?,
                customer_id: col(r, 2)?,
                address_notification: col(r, 3)?,
                registered_at_ms: ms(col(r, 4)?),
            })
        })
        .collect()
}
