//! Coupons as partners receive them (F77): one CSV row per coupon — 管理番号, クーポンコード, URL,
//! ポイント数, 交換期限, 交換先コード (and 状態 in a later download) — in UTF-8 without a byte
//! order mark (partners import it into their own systems) or in Shift_JIS; or the same as JSON.
//!
//! Codes and numbers are written as plain digit strings. A spreadsheet that opens the CSV
//! directly would show a 16-digit code as a rounded number; partners import it as text.

use crate::cells::neutralised;
use actors::partners::CouponRecord;
use encoding_rs::SHIFT_JIS;
use protocol::{AccountKind, AccountRef};
use serde::Serialize;
use utoipa::ToSchema;

/// The CSV's header: what F77 names, in its order.
pub const HEADER: [&str; 7] =
    ["管理番号", "クーポンコード", "URL", "ポイント数", "交換期限", "交換先コード", "応援ポイント会社処理番号"];
/// The extra column of a later download.
pub const STATE_HEADING: &str = "状態";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    ShiftJis,
}

impl Charset {
    pub fn content_type(self) -> &'static str {
        match self {
            Charset::Utf8 => "text/csv; charset=utf-8",
            Charset::ShiftJis => "text/csv; charset=Shift_JIS",
        }
    }
}

/// One coupon as a partner sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CouponView {
    /// 管理番号
    pub coupon_no: u64,
    /// 16 digits, the last a check digit.
    pub code: String,
    /// `<coupon_url_base>?code=<code>`: opening it after login pre-fills the code (R85).
    pub url: String,
    /// Municipal points (R83).
    pub value: u64,
    /// 交換期限, a Japan date `yyyymmdd`, inclusive.
    pub expires_on: u32,
    /// 交換先コード: a municipality code, an event code, or null for the reserved account.
    pub destination: Option<String>,
    /// 応援ポイント会社処理番号: the partner's own number of the issuance, if it gave one.
    pub partner_ref: Option<String>,
    /// 未使用, 使用済 or 期限切れ.
    pub state: &'static str,
}

/// The destination as the partner wrote it: the code alone (its kind is clear from the catalog).
pub fn destination_code(account: &AccountRef) -> Option<String> {
    match account.kind {
        AccountKind::Reserved => None,
        AccountKind::Municipal | AccountKind::Event => Some(account.code.clone()),
    }
}

/// The link that opens the my page's coupon screen with the code filled in.
pub fn coupon_url(base: &str, code: &str) -> String {
    let joiner = if base.contains('?') { '&' } else { '?' };
    format!("{base}{joiner}code={code}")
}

impl CouponView {
    pub fn of(coupon: &CouponRecord, url_base: &str, today: u32) -> CouponView {
        CouponView {
            coupon_no: coupon.coupon_no,
            code: coupon.code.clone(),
            url: coupon_url(url_base, &coupon.code),
            value: coupon.value,
            expires_on: coupon.expires_on,
            destination: coupon.destination.as_ref().and_then(destination_code),
            partner_ref: coupon.partner_ref.clone(),
            state: coupon.state_on(today).label(),
        }
    }
}

/// The coupons as CSV bytes, CRLF line ends; `with_state` adds the 状態 column.
pub fn coupons_csv(coupons: &[CouponView], with_state: bool, charset: Charset) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let mut header: Vec<&str> = HEADER.to_vec();
    if with_state {
        header.push(STATE_HEADING);
    }
    // Writing to memory cannot fail.
    let _ = writer.write_record(&header);
    for c in coupons {
        let mut row = vec![
            c.coupon_no.to_string(),
            c.code.clone(),
            c.url.clone(),
            c.value.to_string(),
            c.expires_on.to_string(),
            c.destination.clone().unwrap_or_default(),
            c.partner_ref.clone().unwrap_or_default(),
        ];
        if with_state {
            row.push(c.state.to_owned());
        }
        let _ = writer.write_record(row.iter().map(|cell| neutralised(cell).into_owned()));
    }
    let text = writer.into_inner().unwrap_or_default();
    match charset {
        Charset::Utf8 => text,
        // Every character written is ASCII or one of the headings and state words above, all
        // of which Shift_JIS has (a URL base is ASCII by definition), except a processing number
        // in characters Shift_JIS lacks, which the encoder writes as a numeric reference.
        Charset::ShiftJis => SHIFT_JIS.encode(&String::from_utf8_lossy(&text)).0.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(no: u64, destination: Option<&str>, state: &'static str) -> CouponView {
        CouponView {
            coupon_no: no,
            code: actors::partners::coupon_code(no),
            url: coupon_url("https://example.jp/coupon", &actors::partners::coupon_code(no)),
            value: 500,
            expires_on: 20261231,
            destination: destination.map(str::to_owned),
            partner_ref: None,
            state,
        }
    }

    #[test]
    fn rows_follow_the_header_in_utf8_without_a_bom() {
        let with_ref = CouponView { partner_ref: Some("ORD-9".into()), ..view(2, Some("141305"), "未使用") };
        let csv = coupons_csv(&[view(1, None, "未使用"), with_ref], false, Charset::Utf8);
        let text = String::from_utf8(csv).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "管理番号,クーポンコード,URL,ポイント数,交換期限,交換先コード,応援ポイント会社処理番号");
        assert_eq!(
            lines[1], "1,0000000000000018,https://example.jp/coupon?code=0000000000000018,500,20261231,,",
            "the reserved account has an empty destination, and no processing number was given"
        );
        assert!(lines[2].ends_with(",500,20261231,141305,ORD-9"), "{}", lines[2]);
        assert_eq!(lines.len(), 4, "header, two rows, and the final line end");
    }

    #[test]
    fn a_partners_processing_number_cannot_start_a_formula() {
        let evil = CouponView { partner_ref: Some("=HYPERLINK(\"x\")".into()), ..view(1, None, "未使用") };
        let text = String::from_utf8(coupons_csv(&[evil], false, Charset::Utf8)).unwrap();
        assert!(text.contains(",\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
    }

    #[test]
    fn a_download_adds_the_state_and_shift_jis_reads_back() {
        let csv = coupons_csv(&[view(3, Some("141305-E001"), "期限切れ")], true, Charset::ShiftJis);
        let (text, _, had_errors) = SHIFT_JIS.decode(&csv);
        assert!(!had_errors);
        assert!(
            text.starts_with(
                "管理番号,クーポンコード,URL,ポイント数,交換期限,交換先コード,応援ポイント会社処理番号,状態\r\n"
            ),
            "{text}"
        );
        assert!(text.contains(",141305-E001,,期限切れ\r\n"), "{text}");
    }

    #[test]
    fn urls_join_the_code_to_the_base() {
        assert_eq!(coupon_url("https://x.jp/c", "1"), "https://x.jp/c?code=1");
        assert_eq!(coupon_url("https://x.jp/c?lang=ja", "1"), "https://x.jp/c?lang=ja&code=1");
    }
}
