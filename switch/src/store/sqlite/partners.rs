//! The partner side on SQLite (`PartnerBook`). Reads on the pool, writes on the writer thread,
//! each write one transaction.

use actors::journal::WalletId;
use actors::partners::{
    partner_of_posting, Abilities, CouponBatchSummary, CouponRecord, ExchangeRate, KeyClaim, LinkedWallet, NewCoupon,
    Partner, PartnerBook, PartnerRecord, PartnerStaffAccount, ReservedReceipt, SettlementMark, UploadProgress,
    UploadRecord, UploadStatus,
};
use actors::store::StoreFuture;
use protocol::AccountRef;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::reads::bad;
use super::SqliteStore;

/// A wallet's partner credits to the reserved account, newest first, with the lot they made
/// and the partner account they came from (the partial index `journal_reserved_receipts`).
const RESERVED_RECEIPTS: &str = "SELECT j.txn_no, j.created_at_ms, j.points,
        (SELECT p.lot FROM postings p WHERE p.entry_id = j.entry_id AND p.account = 'R' LIMIT 1),
        (SELECT p.account FROM postings p WHERE p.entry_id = j.entry_id AND p.wallet_id IS NULL LIMIT 1),
        j.entry_id
     FROM journal j WHERE j.wallet_id = ?1 AND j.kind = 4 AND j.account = 'R' AND j.entry_id < ?3
     ORDER BY j.entry_id DESC LIMIT ?2";

/// A partner's issuances summed, newest first (through the index `coupons_batch`).
const COUPON_BATCHES: &str = "SELECT batch_key, MAX(partner_ref), COUNT(*), SUM(value), COUNT(redeemed_by),
        MIN(issued_at_ms), MAX(expires_on)
     FROM coupons WHERE partner_id = ?1 GROUP BY batch_key ORDER BY MIN(coupon_no) DESC LIMIT ?2";

const PARTNER_COLUMNS: &str =
    "partner_id, name, id_issuer_id, api_key_hash, rate_partner, rate_municipal, abilities, created_at_ms";

fn partner_row(r: &Row<'_>) -> rusqlite::Result<PartnerRecord> {
    Ok(PartnerRecord {
        partner_id: r.get(0)?,
        details: Partner {
            name: r.get(1)?,
            id_issuer_id: r.get(2)?,
            api_key_hash: r.get(3)?,
            rate: ExchangeRate {
                partner_units: r.get::<_, i64>(4)? as u64,
                municipal_points: r.get::<_, i64>(5)? as u64,
            },
            abilities: Abilities::from_bits(r.get(6)?),
            created_at_ms: r.get::<_, i64>(7)? as u64,
        },
    })
}

const COUPON_COLUMNS: &str = "coupon_no, partner_id, batch_key, code, value, expires_on, destination, issued_at_ms,
     redeemed_by, redeemed_at_ms, partner_ref";

fn coupon_row(r: &Row<'_>) -> rusqlite::Result<CouponRecord> {
    let destination: Option<String> = r.get(6)?;
    Ok(CouponRecord {
        coupon_no: r.get::<_, i64>(0)? as u64,
        partner_id: r.get(1)?,
        batch_key: r.get(2)?,
        code: r.get(3)?,
        value: r.get::<_, i64>(4)? as u64,
        expires_on: r.get(5)?,
        destination: destination.map(|d| d.parse().map_err(|_| bad(6, "coupon destination"))).transpose()?,
        issued_at_ms: r.get::<_, i64>(7)? as u64,
        redeemed_by: r.get::<_, Option<i64>>(8)?.map(|w| WalletId(w as u64)),
        redeemed_at_ms: r.get::<_, Option<i64>>(9)?.map(|t| t as u64),
        partner_ref: r.get(10)?,
    })
}

const UPLOAD_COLUMNS: &str = "upload_id, partner_id, sha256, encoding, bytes, status, lines_done, result_bytes,
     applied, errors, created_at_ms, finished_at_ms";

fn upload_row(r: &Row<'_>) -> rusqlite::Result<UploadRecord> {
    Ok(UploadRecord {
        upload_id: r.get::<_, i64>(0)? as u64,
        partner_id: r.get(1)?,
        sha256: r.get(2)?,
        encoding: r.get(3)?,
        bytes: r.get::<_, i64>(4)? as u64,
        status: UploadStatus::from_code(r.get(5)?).ok_or_else(|| bad(5, "upload status"))?,
        lines_done: r.get::<_, i64>(6)? as u64,
        result_bytes: r.get::<_, i64>(7)? as u64,
        applied: r.get::<_, i64>(8)? as u64,
        errors: r.get::<_, i64>(9)? as u64,
        created_at_ms: r.get::<_, i64>(10)? as u64,
        finished_at_ms: r.get::<_, Option<i64>>(11)?.map(|t| t as u64),
    })
}

fn upload_by_id(c: &Connection, upload_id: u64) -> rusqlite::Result<Option<UploadRecord>> {
    c.query_row(
        &format!("SELECT {UPLOAD_COLUMNS} FROM id_link_uploads WHERE upload_id = ?1"),
        [upload_id as i64],
        upload_row,
    )
    .optional()
}

fn uploads_where(c: &Connection, filter: &str, arg: i64) -> rusqlite::Result<Vec<UploadRecord>> {
    let mut stmt =
        c.prepare(&format!("SELECT {UPLOAD_COLUMNS} FROM id_link_uploads WHERE {filter} ORDER BY upload_id"))?;
    let rows = stmt.query_map([arg], upload_row)?;
    rows.collect()
}

impl PartnerBook for SqliteStore {
    fn create_partner(&self, p: Partner) -> StoreFuture<Option<u32>> {
        self.write(move |c| {
            let inserted = c.execute(
                "INSERT INTO partners (name, id_issuer_id, api_key_hash, rate_partner, rate_municipal, abilities,
                     created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (name) DO NOTHING",
                params![
                    p.name,
                    p.id_issuer_id,
                    p.api_key_hash,
                    p.rate.partner_units as i64,
                    p.rate.municipal_points as i64,
                    p.abilities.bits(),
                    p.created_at_ms as i64
                ],
            )?;
            Ok((inserted == 1).then(|| c.last_insert_rowid() as u32))
        })
    }

    fn partners(&self) -> StoreFuture<Vec<PartnerRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("SELECT {PARTNER_COLUMNS} FROM partners ORDER BY partner_id"))?;
            let rows = stmt.query_map([], partner_row)?;
            rows.collect()
        })
    }

    fn partner(&self, partner_id: u32) -> StoreFuture<Option<PartnerRecord>> {
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE partner_id = ?1"),
                [partner_id],
                partner_row,
            )
            .optional()
        })
    }

    fn set_partner_key(&self, partner_id: u32, api_key_hash: String) -> StoreFuture<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE partners SET api_key_hash = ?2 WHERE partner_id = ?1",
                params![partner_id, api_key_hash],
            )? == 1)
        })
    }

    fn save_partner_staff(&self, a: PartnerStaffAccount, now_ms: u64) -> StoreFuture<bool> {
        self.write(move |c| {
            let saved = c.execute(
                "INSERT INTO partner_staff (login_id, partner_id, password_hash, display_name, created_at_ms)
                 SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM partners WHERE partner_id = ?2)
                 ON CONFLICT (login_id) DO UPDATE SET password_hash = excluded.password_hash,
                     display_name = excluded.display_name
                 WHERE partner_staff.partner_id = excluded.partner_id",
                params![a.login_id, a.partner_id, a.password_hash, a.display_name, now_ms as i64],
            )?;
            Ok(saved == 1)
        })
    }

    fn partner_staff(&self, login_id: String) -> StoreFuture<Option<PartnerStaffAccount>> {
        self.read(move |c| {
            c.query_row(
                "SELECT login_id, partner_id, password_hash, display_name FROM partner_staff WHERE login_id = ?1",
                [login_id],
                |r| {
                    Ok(PartnerStaffAccount {
                        login_id: r.get(0)?,
                        partner_id: r.get(1)?,
                        password_hash: r.get(2)?,
                        display_name: r.get(3)?,
                    })
                },
            )
            .optional()
        })
    }

    fn claim_key(&self, partner_id: u32, key: String, request_hash: String, now_ms: u64) -> StoreFuture<KeyClaim> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let inserted = tx.execute(
                "INSERT INTO partner_requests (partner_id, idem_key, request_hash, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![partner_id, key, request_hash, now_ms as i64],
            )?;
            let claim = if inserted == 1 {
                KeyClaim::New
            } else {
                let first: String = tx.query_row(
                    "SELECT request_hash FROM partner_requests WHERE partner_id = ?1 AND idem_key = ?2",
                    params![partner_id, key],
                    |r| r.get(0),
                )?;
                if first == request_hash {
                    KeyClaim::Same
                } else {
                    KeyClaim::Different
                }
            };
            tx.commit()?;
            Ok(claim)
        })
    }

    fn issue_coupons(
        &self,
        partner_id: u32,
        batch_key: String,
        coupons: Vec<NewCoupon>,
        now_ms: u64,
    ) -> StoreFuture<bool> {
        self.write(move |c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO coupons (partner_id, batch_key, code, value, expires_on, destination, issued_at_ms,
                         partner_ref)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (code) DO NOTHING",
                )?;
                for coupon in &coupons {
                    let inserted = insert.execute(params![
                        partner_id,
                        batch_key,
                        coupon.code,
                        coupon.value as i64,
                        coupon.expires_on,
                        coupon.destination.as_ref().map(ToString::to_string),
                        now_ms as i64,
                        coupon.partner_ref
                    ])?;
                    if inserted == 0 {
                        // A code drawn twice: nothing of this issuance is kept.
                        return Ok(false);
                    }
                }
            }
            tx.commit()?;
            Ok(true)
        })
    }

    fn coupons_of_batch(&self, partner_id: u32, batch_key: String) -> StoreFuture<Vec<CouponRecord>> {
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COUPON_COLUMNS} FROM coupons WHERE partner_id = ?1 AND batch_key = ?2 ORDER BY coupon_no"
            ))?;
            let rows = stmt.query_map(params![partner_id, batch_key], coupon_row)?;
            rows.collect()
        })
    }

    fn coupon_by_code(&self, code: String) -> StoreFuture<Option<CouponRecord>> {
        self.read(move |c| {
            c.query_row(&format!("SELECT {COUPON_COLUMNS} FROM coupons WHERE code = ?1"), [code], coupon_row).optional()
        })
    }

    fn coupon_batches_of(&self, partner_id: u32, limit: u32) -> StoreFuture<Vec<CouponBatchSummary>> {
        self.read(move |c| {
            let mut stmt = c.prepare(COUPON_BATCHES)?;
            let rows = stmt.query_map(params![partner_id, limit], |r| {
                Ok(CouponBatchSummary {
                    batch_key: r.get(0)?,
                    partner_ref: r.get(1)?,
                    count: r.get::<_, i64>(2)? as u64,
                    total_value: r.get::<_, i64>(3)? as u64,
                    redeemed: r.get::<_, i64>(4)? as u64,
                    issued_at_ms: r.get::<_, i64>(5)? as u64,
                    expires_on: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    fn note_coupon_redeemed(&self, coupon_no: u64, wallet: WalletId, now_ms: u64) -> StoreFuture<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE coupons SET redeemed_by = ?2, redeemed_at_ms = ?3 WHERE coupon_no = ?1 AND redeemed_by IS NULL",
                params![coupon_no as i64, wallet.0 as i64, now_ms as i64],
            )?;
            Ok(())
        })
    }

    fn note_coupons_redeemed(&self, notes: Vec<(u64, WalletId)>, now_ms: u64) -> StoreFuture<()> {
        self.write(move |c| {
            let tx = c.transaction()?;
            {
                let mut note = tx.prepare_cached(
                    "UPDATE coupons SET redeemed_by = ?2, redeemed_at_ms = ?3
                     WHERE coupon_no = ?1 AND redeemed_by IS NULL",
                )?;
                for (coupon_no, wallet) in &notes {
                    note.execute(params![*coupon_no as i64, wallet.0 as i64, now_ms as i64])?;
                }
            }
            tx.commit()
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
        self.write(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO id_link_uploads (partner_id, sha256, encoding, bytes, status, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (partner_id, sha256) DO NOTHING",
                params![partner_id, sha256, encoding, bytes as i64, UploadStatus::Processing.code(), now_ms as i64],
            )?;
            let upload = tx.query_row(
                &format!("SELECT {UPLOAD_COLUMNS} FROM id_link_uploads WHERE partner_id = ?1 AND sha256 = ?2"),
                params![partner_id, sha256],
                upload_row,
            )?;
            tx.commit()?;
            Ok(upload)
        })
    }

    fn upload(&self, upload_id: u64) -> StoreFuture<Option<UploadRecord>> {
        self.read(move |c| upload_by_id(c, upload_id))
    }

    fn uploads_of(&self, partner_id: u32) -> StoreFuture<Vec<UploadRecord>> {
        self.read(move |c| uploads_where(c, "partner_id = ?1", i64::from(partner_id)))
    }

    fn unfinished_uploads(&self) -> StoreFuture<Vec<UploadRecord>> {
        self.read(|c| uploads_where(c, "status = ?1", UploadStatus::Processing.code()))
    }

    fn save_upload_progress(&self, upload_id: u64, p: UploadProgress) -> StoreFuture<()> {
        self.write(move |c| {
            let status = if p.finished_at_ms.is_some() { UploadStatus::Done } else { UploadStatus::Processing };
            c.execute(
                "UPDATE id_link_uploads SET lines_done = ?2, result_bytes = ?3, applied = ?4, errors = ?5,
                     status = ?6, finished_at_ms = ?7
                 WHERE upload_id = ?1",
                params![
                    upload_id as i64,
                    p.lines_done as i64,
                    p.result_bytes as i64,
                    p.applied as i64,
                    p.errors as i64,
                    status.code(),
                    p.finished_at_ms.map(|t| t as i64)
                ],
            )?;
            Ok(())
        })
    }

    fn wallets_by_service_ids(
        &self,
        issuer_id: String,
        customer_ids: Vec<String>,
    ) -> StoreFuture<Vec<Option<LinkedWallet>>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.wallet_id, w.status FROM service_ids s JOIN wallets w ON w.wallet_id = s.wallet_id
                 WHERE s.issuer_id = ?1 AND s.customer_id = ?2",
            )?;
            customer_ids
                .iter()
                .map(|customer| {
                    stmt.query_row(params![issuer_id, customer], |r| {
                        Ok(LinkedWallet {
                            wallet: WalletId(r.get::<_, i64>(0)? as u64),
                            revoked: r.get::<_, i64>(1)? == 2,
                        })
                    })
                    .optional()
                })
                .collect()
        })
    }

    fn set_consent(&self, wallet: WalletId, partner_id: u32, given: bool, now_ms: u64) -> StoreFuture<()> {
        self.write(move |c| {
            if given {
                c.execute(
                    "INSERT INTO partner_consents (wallet_id, partner_id, given_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![wallet.0 as i64, partner_id, now_ms as i64],
                )?;
            } else {
                c.execute(
                    "DELETE FROM partner_consents WHERE wallet_id = ?1 AND partner_id = ?2",
                    params![wallet.0 as i64, partner_id],
                )?;
            }
            Ok(())
        })
    }

    fn has_consent(&self, wallet: WalletId, partner_id: u32) -> StoreFuture<bool> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT 1 FROM partner_consents WHERE wallet_id = ?1 AND partner_id = ?2",
                params![wallet.0 as i64, partner_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }

    fn consents_of(&self, wallet: WalletId) -> StoreFuture<Vec<u32>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare("SELECT partner_id FROM partner_consents WHERE wallet_id = ?1 ORDER BY partner_id")?;
            let rows = stmt.query_map([wallet.0 as i64], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn settlement_mark(&self, account: AccountRef) -> StoreFuture<SettlementMark> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT paid_through, cancel_after_settlement FROM settlement_marks WHERE account = ?1",
                [account.to_string()],
                |r| Ok(SettlementMark { paid_through: r.get(0)?, cancel_after_settlement: r.get::<_, i64>(1)? != 0 }),
            )
            .optional()?
            .unwrap_or_default())
        })
    }

    fn set_settlement_mark(&self, account: AccountRef, mark: SettlementMark) -> StoreFuture<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO settlement_marks (account, paid_through, cancel_after_settlement) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account) DO UPDATE SET paid_through = excluded.paid_through,
                     cancel_after_settlement = excluded.cancel_after_settlement",
                params![account.to_string(), mark.paid_through, i64::from(mark.cancel_after_settlement)],
            )?;
            Ok(())
        })
    }

    fn reserved_receipts(
        &self,
        wallet: WalletId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreFuture<Vec<ReservedReceipt>> {
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        self.read(move |c| {
            let mut stmt = c.prepare_cached(RESERVED_RECEIPTS)?;
            let rows = stmt.query_map(params![wallet.0 as i64, limit, before], |r| {
                let house: Option<String> = r.get(4)?;
                Ok(ReservedReceipt {
                    entry_id: r.get::<_, i64>(5)? as u64,
                    txn_no: r.get(0)?,
                    created_at_ms: r.get::<_, i64>(1)? as u64,
                    points: r.get::<_, i64>(2)? as u64,
                    deadline: r.get::<_, Option<u32>>(3)?.unwrap_or(0),
                    partner_id: house.as_deref().and_then(partner_of_posting),
                })
            })?;
            rows.collect()
        })
    }

    fn reserve_due(&self, today: u32, after: WalletId, limit: u32) -> StoreFuture<Vec<(WalletId, Option<String>)>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT d.wallet_id, z.default_municipality
                 FROM (SELECT DISTINCT wallet_id FROM wallet_lots
                       WHERE account = 'R' AND lot < ?1 AND amount > 0 AND wallet_id > ?2
                       ORDER BY wallet_id LIMIT ?3) d
                 LEFT JOIN citizens z ON z.wallet_id = d.wallet_id
                 ORDER BY d.wallet_id",
            )?;
            let rows = stmt.query_map(params![today, after.0 as i64, limit], |r| {
                Ok((WalletId(r.get::<_, i64>(0)? as u64), r.get(1)?))
            })?;
            rows.collect()
        })
    }
}
