//! The partner side on PostgreSQL (`PartnerBook`): the same decisions as the embedded store's
//! `partners.rs`, one statement or one transaction each.

use actors::journal::WalletId;
use actors::partners::{
    partner_of_posting, Abilities, CouponBatchSummary, CouponRecord, ExchangeRate, KeyClaim, LinkedWallet, NewCoupon,
    Partner, PartnerBook, PartnerRecord, PartnerStaffAccount, ReservedReceipt, SettlementMark, UploadProgress,
    UploadRecord, UploadStatus,
};
use actors::store::StoreFuture;
use deadpool_postgres::ClientWrapper;
use protocol::AccountRef;
use tokio_postgres::Row;

use super::reads::{bad, col};
use super::{PgError, PostgresStore};

const PARTNER_COLUMNS: &str =
    "partner_id, name, id_issuer_id, api_key_hash, rate_partner, rate_municipal, abilities, created_at_ms";

fn partner_row(r: &Row) -> Result<PartnerRecord, PgError> {
    Ok(PartnerRecord {
        partner_id: col::<i32>(r, 0)? as u32,
        details: Partner {
            name: col(r, 1)?,
            id_issuer_id: col(r, 2)?,
            api_key_hash: col(r, 3)?,
            rate: ExchangeRate { partner_units: col::<i64>(r, 4)? as u64, municipal_points: col::<i64>(r, 5)? as u64 },
            abilities: Abilities::from_bits(col(r, 6)?),
            created_at_ms: col::<i64>(r, 7)? as u64,
        },
    })
}

const COUPON_COLUMNS: &str = "coupon_no, partner_id, batch_key, code, value, expires_on, destination, issued_at_ms,
     redeemed_by, redeemed_at_ms, partner_ref";

fn coupon_row(r: &Row) -> Result<CouponRecord, PgError> {
    let destination: Option<String> = col(r, 6)?;
    Ok(CouponRecord {
        coupon_no: col::<i64>(r, 0)? as u64,
        partner_id: col::<i32>(r, 1)? as u32,
        batch_key: col(r, 2)?,
        code: col(r, 3)?,
        value: col::<i64>(r, 4)? as u64,
        expires_on: col::<i32>(r, 5)? as u32,
        destination: destination.map(|d| d.parse().map_err(|_| bad("coupon destination", &d))).transpose()?,
        issued_at_ms: col::<i64>(r, 7)? as u64,
        redeemed_by: col::<Option<i64>>(r, 8)?.map(|w| WalletId(w as u64)),
        redeemed_at_ms: col::<Option<i64>>(r, 9)?.map(|t| t as u64),
        partner_ref: col(r, 10)?,
    })
}

const UPLOAD_COLUMNS: &str = "upload_id, partner_id, sha256, encoding, bytes, status, lines_done, result_bytes,
     applied, errors, created_at_ms, finished_at_ms";

fn upload_row(r: &Row) -> Result<UploadRecord, PgError> {
    let status: i16 = col(r, 5)?;
    Ok(UploadRecord {
        upload_id: col::<i64>(r, 0)? as u64,
        partner_id: col::<i32>(r, 1)? as u32,
        sha256: col(r, 2)?,
        encoding: col(r, 3)?,
        bytes: col::<i64>(r, 4)? as u64,
        status: UploadStatus::from_code(i64::from(status)).ok_or_else(|| bad("upload status", status))?,
        lines_done: col::<i64>(r, 6)? as u64,
        result_bytes: col::<i64>(r, 7)? as u64,
        applied: col::<i64>(r, 8)? as u64,
        errors: col::<i64>(r, 9)? as u64,
        created_at_ms: col::<i64>(r, 10)? as u64,
        finished_at_ms: col::<Option<i64>>(r, 11)?.map(|t| t as u64),
    })
}

async fn claim_key(
    c: &ClientWrapper,
    partner_id: i32,
    key: String,
    request_hash: String,
    now_ms: i64,
) -> Result<KeyClaim, PgError> {
    let inserted = c
        .execute(
            "INSERT INTO partner_requests (partner_id, idem_key, request_hash, created_at_ms)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&partner_id, &key, &request_hash, &now_ms],
        )
        .await?;
    if inserted == 1 {
        return Ok(KeyClaim::New);
    }
    let row = c
        .query_one(
            "SELECT request_hash FROM partner_requests WHERE partner_id = $1 AND idem_key = $2",
            &[&partner_id, &key],
        )
        .await?;
    let first: String = col(&row, 0)?;
    Ok(if first == request_hash { KeyClaim::Same } else { KeyClaim::Different })
}

async fn issue_coupons(
    c: &ClientWrapper,
    partner_id: i32,
    batch_key: String,
    coupons: Vec<NewCoupon>,
    now_ms: i64,
) -> Result<bool, PgError> {
    let codes: Vec<String> = coupons.iter().map(|k| k.code.clone()).collect();
    let values: Vec<i64> = coupons.iter().map(|k| k.value as i64).collect();
    let expiries: Vec<i32> = coupons.iter().map(|k| k.expires_on as i32).collect();
    let destinations: Vec<Option<String>> =
        coupons.iter().map(|k| k.destination.as_ref().map(ToString::to_string)).collect();
    let refs: Vec<Option<String>> = coupons.iter().map(|k| k.partner_ref.clone()).collect();
    // One statement: either every code is new and all rows go in, or a code drawn twice makes
    // the whole statement insert fewer rows and the transaction is rolled back.
    c.batch_execute("BEGIN").await?;
    let inserted = c
        .execute(
            "INSERT INTO coupons (partner_id, batch_key, code, value, expires_on, destination, issued_at_ms,
                                  partner_ref)
             SELECT $1, $2, code, value, expires_on, destination, $7, partner_ref
             FROM unnest($3::text[], $4::bigint[], $5::integer[], $6::text[], $8::text[])
                  WITH ORDINALITY AS u(code, value, expires_on, destination, partner_ref, n)
             ORDER BY n
             ON CONFLICT (code) DO NOTHING",
            &[&partner_id, &batch_key, &codes, &values, &expiries, &destinations, &now_ms, &refs],
        )
        .await?;
    if inserted as usize != coupons.len() {
        c.batch_execute("ROLLBACK").await?;
        return Ok(false);
    }
    c.batch_execute("COMMIT").await?;
    Ok(true)
}

async fn create_upload(
    c: &ClientWrapper,
    partner_id: i32,
    sha256: String,
    encoding: String,
    bytes: i64,
    now_ms: i64,
) -> Result<UploadRecord, PgError> {
    c.execute(
        "INSERT INTO id_link_uploads (partner_id, sha256, encoding, bytes, status, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (partner_id, sha256) DO NOTHING",
        &[&partner_id, &sha256, &encoding, &bytes, &(UploadStatus::Processing.code() as i16), &now_ms],
    )
    .await?;
    let row = c
        .query_one(
            &format!("SELECT {UPLOAD_COLUMNS} FROM id_link_uploads WHERE partner_id = $1 AND sha256 = $2"),
            &[&partner_id, &sha256],
        )
        .await?;
    upload_row(&row)
}

impl PartnerBook for PostgresStore {
    fn create_partner(&self, p: Partner) -> StoreFuture<Option<u32>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        // The NOT EXISTS keeps a refused name from drawing a number from the
                        // identity, so partners are numbered 1, 2, 3 as on the embedded store.
                        "INSERT INTO partners (name, id_issuer_id, api_key_hash, rate_partner, rate_municipal,
                             abilities, created_at_ms)
                         SELECT $1, $2, $3, $4, $5, $6, $7
                         WHERE NOT EXISTS (SELECT 1 FROM partners WHERE name = $1)
                         ON CONFLICT (name) DO NOTHING RETURNING partner_id",
                        &[
                            &p.name,
                            &p.id_issuer_id,
                            &p.api_key_hash,
                            &(p.rate.partner_units as i64),
                            &(p.rate.municipal_points as i64),
                            &p.abilities.bits(),
                            &(p.created_at_ms as i64),
                        ],
                    )
                    .await?;
                row.map(|r| col::<i32>(&r, 0).map(|id| id as u32)).transpose()
            })
        })
    }

    fn partners(&self) -> StoreFuture<Vec<PartnerRecord>> {
        self.run(|c| {
            Box::pin(async move {
                let rows = c.query(&format!("SELECT {PARTNER_COLUMNS} FROM partners ORDER BY partner_id"), &[]).await?;
                rows.iter().map(partner_row).collect()
            })
        })
    }

    fn partner(&self, partner_id: u32) -> StoreFuture<Option<PartnerRecord>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        &format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE partner_id = $1"),
                        &[&(partner_id as i32)],
                    )
                    .await?;
                row.as_ref().map(partner_row).transpose()
            })
        })
    }

    fn save_partner_staff(&self, a: PartnerStaffAccount, now_ms: u64) -> StoreFuture<bool> {
        self.run(move |c| {
            Box::pin(async move {
                let saved = c
                    .execute(
                        "INSERT INTO partner_staff (login_id, partner_id, password_hash, display_name, created_at_ms)
                         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM partners WHERE partner_id = $2)
                         ON CONFLICT (login_id) DO UPDATE SET password_hash = excluded.password_hash,
                             display_name = excluded.display_name
                         WHERE partner_staff.partner_id = excluded.partner_id",
                        &[&a.login_id, &(a.partner_id as i32), &a.password_hash, &a.display_name, &(now_ms as i64)],
                    )
                    .await?;
                Ok(saved == 1)
            })
        })
    }

    fn partner_staff(&self, login_id: String) -> StoreFuture<Option<PartnerStaffAccount>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT login_id, partner_id, password_hash, display_name FROM partner_staff
                         WHERE login_id = $1",
                        &[&login_id],
                    )
                    .await?;
                row.map(|r| {
                    Ok(PartnerStaffAccount {
                        login_id: col(&r, 0)?,
                        partner_id: col::<i32>(&r, 1)? as u32,
                        password_hash: col(&r, 2)?,
                        display_name: col(&r, 3)?,
                    })
                })
                .transpose()
            })
        })
    }

    fn set_partner_key(&self, partner_id: u32, api_key_hash: String) -> StoreFuture<bool> {
        self.run(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE partners SET api_key_hash = $2 WHERE partner_id = $1",
                        &[&(partner_id as i32), &api_key_hash],
                    )
                    .await?;
                Ok(n == 1)
            })
        })
    }

    fn claim_key(&self, partner_id: u32, key: String, request_hash: String, now_ms: u64) -> StoreFuture<KeyClaim> {
        self.run(move |c| Box::pin(claim_key(c, partner_id as i32, key, request_hash, now_ms as i64)))
    }

    fn issue_coupons(
        &self,
        partner_id: u32,
        batch_key: String,
        coupons: Vec<NewCoupon>,
        now_ms: u64,
    ) -> StoreFuture<bool> {
        self.run(move |c| Box::pin(issue_coupons(c, partner_id as i32, batch_key, coupons, now_ms as i64)))
    }

    fn coupons_of_batch(&self, partner_id: u32, batch_key: String) -> StoreFuture<Vec<CouponRecord>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!(
                            "SELECT {COUPON_COLUMNS} FROM coupons WHERE partner_id = $1 AND batch_key = $2
                             ORDER BY coupon_no"
                        ),
                        &[&(partner_id as i32), &batch_key],
                    )
                    .await?;
                rows.iter().map(coupon_row).collect()
            })
        })
    }

    fn coupon_batches_of(&self, partner_id: u32, limit: u32) -> StoreFuture<Vec<CouponBatchSummary>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT batch_key, MAX(partner_ref), COUNT(*), CAST(SUM(value) AS BIGINT),
                             COUNT(redeemed_by), MIN(issued_at_ms), MAX(expires_on)
                         FROM coupons WHERE partner_id = $1 GROUP BY batch_key
                         ORDER BY MIN(coupon_no) DESC LIMIT $2",
                        &[&(partner_id as i32), &i64::from(limit)],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(CouponBatchSummary {
                            batch_key: col(r, 0)?,
                            partner_ref: col(r, 1)?,
                            count: col::<i64>(r, 2)? as u64,
                            total_value: col::<i64>(r, 3)? as u64,
                            redeemed: col::<i64>(r, 4)? as u64,
                            issued_at_ms: col::<i64>(r, 5)? as u64,
                            expires_on: col::<i32>(r, 6)? as u32,
                        })
                    })
                    .collect()
            })
        })
    }

    fn coupon_by_code(&self, code: String) -> StoreFuture<Option<CouponRecord>> {
        self.run(move |c| {
            Box::pin(async move {
                let row =
                    c.query_opt(&format!("SELECT {COUPON_COLUMNS} FROM coupons WHERE code = $1"), &[&code]).await?;
                row.as_ref().map(coupon_row).transpose()
            })
        })
    }

    fn note_coupon_redeemed(&self, coupon_no: u64, wallet: WalletId, now_ms: u64) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE coupons SET redeemed_by = $2, redeemed_at_ms = $3
                     WHERE coupon_no = $1 AND redeemed_by IS NULL",
                    &[&(coupon_no as i64), &(wallet.0 as i64), &(now_ms as i64)],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn note_coupons_redeemed(&self, notes: Vec<(u64, WalletId)>, now_ms: u64) -> StoreFuture<()> {
        let numbers: Vec<i64> = notes.iter().map(|(n, _)| *n as i64).collect();
        let wallets: Vec<i64> = notes.iter().map(|(_, w)| w.0 as i64).collect();
        self.run(move |c| {
            Box::pin(async move {
                // One statement for the batch; a coupon named twice keeps the first note.
                c.execute(
                    "UPDATE coupons SET redeemed_by = n.wallet, redeemed_at_ms = $3
                     FROM (SELECT DISTINCT ON (coupon_no) coupon_no, wallet
                           FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS u(coupon_no, wallet, i)
                           ORDER BY coupon_no, i) AS n
                     WHERE coupons.coupon_no = n.coupon_no AND coupons.redeemed_by IS NULL",
                    &[&numbers, &wallets, &(now_ms as i64)],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn create_upload(
        &self,
        partner_id: u32,
        sha256: String,
        encoding: String,
        bytes: u64,
        now_ms: u64,
    ) -> StoreFuture<UploadRecord> {
        self.run(move |c| Box::pin(create_upload(c, partner_id as i32, sha256, encoding, bytes as i64, now_ms as i64)))
    }

    fn upload(&self, upload_id: u64) -> StoreFuture<Option<UploadRecord>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        &format!("SELECT {UPLOAD_COLUMNS} FROM id_link_uploads WHERE upload_id = $1"),
                        &[&(upload_id as i64)],
                    )
                    .await?;
                row.as_ref().map(upload_row).transpose()
            })
        })
    }

    fn uploads_of(&self, partner_id: u32) -> StoreFuture<Vec<UploadRecord>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!(
                            "SELECT {UPLOAD_COLUMNS} FROM id_link_uploads WHERE partner_id = $1 ORDER BY upload_id"
                        ),
                        &[&(partner_id as i32)],
                    )
                    .await?;
                rows.iter().map(upload_row).collect()
            })
        })
    }

    fn unfinished_uploads(&self) -> StoreFuture<Vec<UploadRecord>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!("SELECT {UPLOAD_COLUMNS} FROM id_link_uploads WHERE status = $1 ORDER BY upload_id"),
                        &[&(UploadStatus::Processing.code() as i16)],
                    )
                    .await?;
                rows.iter().map(upload_row).collect()
            })
        })
    }

    fn save_upload_progress(&self, upload_id: u64, p: UploadProgress) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                let status = if p.finished_at_ms.is_some() { UploadStatus::Done } else { UploadStatus::Processing };
                c.execute(
                    "UPDATE id_link_uploads SET lines_done = $2, result_bytes = $3, applied = $4, errors = $5,
                         status = $6, finished_at_ms = $7
                     WHERE upload_id = $1",
                    &[
                        &(upload_id as i64),
                        &(p.lines_done as i64),
                        &(p.result_bytes as i64),
                        &(p.applied as i64),
                        &(p.errors as i64),
                        &(status.code() as i16),
                        &p.finished_at_ms.map(|t| t as i64),
                    ],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn wallets_by_service_ids(
        &self,
        issuer_id: String,
        customer_ids: Vec<String>,
    ) -> StoreFuture<Vec<Option<LinkedWallet>>> {
        self.run(move |c| {
            Box::pin(async move {
                // One round trip for the whole chunk, answered in the order asked.
                let rows = c
                    .query(
                        "SELECT u.n, s.wallet_id, w.status
                         FROM unnest($2::text[]) WITH ORDINALITY AS u(customer_id, n)
                         JOIN service_ids s ON s.issuer_id = $1 AND s.customer_id = u.customer_id
                         JOIN wallets w ON w.wallet_id = s.wallet_id",
                        &[&issuer_id, &customer_ids],
                    )
                    .await?;
                let mut found = vec![None; customer_ids.len()];
                for r in &rows {
                    let n = col::<i64>(r, 0)? as usize;
                    let status: i16 = col(r, 2)?;
                    if let Some(slot) = n.checked_sub(1).and_then(|i| found.get_mut(i)) {
                        *slot = Some(LinkedWallet { wallet: WalletId(col::<i64>(r, 1)? as u64), revoked: status == 2 });
                    }
                }
                Ok(found)
            })
        })
    }

    fn set_consent(&self, wallet: WalletId, partner_id: u32, given: bool, now_ms: u64) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                if given {
                    c.execute(
                        "INSERT INTO partner_consents (wallet_id, partner_id, given_at_ms) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING",
                        &[&(wallet.0 as i64), &(partner_id as i32), &(now_ms as i64)],
                    )
                    .await?;
                } else {
                    c.execute(
                        "DELETE FROM partner_consents WHERE wallet_id = $1 AND partner_id = $2",
                        &[&(wallet.0 as i64), &(partner_id as i32)],
                    )
                    .await?;
                }
                Ok(())
            })
        })
    }

    fn has_consent(&self, wallet: WalletId, partner_id: u32) -> StoreFuture<bool> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT 1 FROM partner_consents WHERE wallet_id = $1 AND partner_id = $2",
                        &[&(wallet.0 as i64), &(partner_id as i32)],
                    )
                    .await?;
                Ok(row.is_some())
            })
        })
    }

    fn consents_of(&self, wallet: WalletId) -> StoreFuture<Vec<u32>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT partner_id FROM partner_consents WHERE wallet_id = $1 ORDER BY partner_id",
                        &[&(wallet.0 as i64)],
                    )
                    .await?;
                rows.iter().map(|r| col::<i32>(r, 0).map(|p| p as u32)).collect()
            })
        })
    }

    fn settlement_mark(&self, account: AccountRef) -> StoreFuture<SettlementMark> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT paid_through, cancel_after_settlement FROM settlement_marks WHERE account = $1",
                        &[&account.to_string()],
                    )
                    .await?;
                match row {
                    Some(r) => Ok(SettlementMark {
                        paid_through: col::<i32>(&r, 0)? as u32,
                        cancel_after_settlement: col(&r, 1)?,
                    }),
                    None => Ok(SettlementMark::default()),
                }
            })
        })
    }

    fn set_settlement_mark(&self, account: AccountRef, mark: SettlementMark) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO settlement_marks (account, paid_through, cancel_after_settlement) VALUES ($1, $2, $3)
                     ON CONFLICT (account) DO UPDATE SET paid_through = excluded.paid_through,
                         cancel_after_settlement = excluded.cancel_after_settlement",
                    &[&account.to_string(), &(mark.paid_through as i32), &mark.cancel_after_settlement],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn reserved_receipts(
        &self,
        wallet: WalletId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreFuture<Vec<ReservedReceipt>> {
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT j.txn_no, j.created_at_ms, j.points,
                            (SELECT p.lot FROM postings p WHERE p.entry_id = j.entry_id AND p.account = 'R' LIMIT 1),
                            (SELECT p.account FROM postings p
                             WHERE p.entry_id = j.entry_id AND p.wallet_id IS NULL LIMIT 1),
                            j.entry_id
                         FROM journal j
                         WHERE j.wallet_id = $1 AND j.kind = 4 AND j.account = 'R' AND j.entry_id < $3
                         ORDER BY j.entry_id DESC LIMIT $2",
                        &[&(wallet.0 as i64), &i64::from(limit), &before],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        let house: Option<String> = col(r, 4)?;
                        Ok(ReservedReceipt {
                            entry_id: col::<i64>(r, 5)? as u64,
                            txn_no: col(r, 0)?,
                            created_at_ms: col::<i64>(r, 1)? as u64,
                            points: col::<i64>(r, 2)? as u64,
                            deadline: col::<Option<i32>>(r, 3)?.unwrap_or(0) as u32,
                            partner_id: house.as_deref().and_then(partner_of_posting),
                        })
                    })
                    .collect()
            })
        })
    }

    fn reserve_due(&self, today: u32, after: WalletId, limit: u32) -> StoreFuture<Vec<(WalletId, Option<String>)>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT d.wallet_id, z.default_municipality
                         FROM (SELECT DISTINCT wallet_id FROM wallet_lots
                               WHERE account = 'R' AND lot < $1 AND amount > 0 AND wallet_id > $2
                               ORDER BY wallet_id LIMIT $3) d
                         LEFT JOIN citizens z ON z.wallet_id = d.wallet_id
                         ORDER BY d.wallet_id",
                        &[&(today as i32), &(after.0 as i64), &i64::from(limit)],
                    )
                    .await?;
                rows.iter().map(|r| Ok((WalletId(col::<i64>(r, 0)? as u64), col(r, 1)?))).collect()
            })
        })
    }
}
