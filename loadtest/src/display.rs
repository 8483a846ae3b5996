//! Output for people at a counter: Japanese labels first, English in parentheses, points with
//! thousands separators, times in Japan time.

use chrono::{DateTime, FixedOffset};
use protocol::{
    AccountKind, CardReadOk, ErrorCode, LoginOk, RedeemOk, TerminalKind, TicketClearOk, TicketIssueOk, TicketLookupOk,
    TicketNo, VoidOk,
};

use crate::client::ClientError;

/// Japan Standard Time: UTC+09:00, no daylight saving.
const JST_OFFSET_S: i32 = 9 * 3600;

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Like [`thousands`], with a minus sign for negative numbers.
pub fn thousands_signed(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", thousands(n.unsigned_abs()))
}

/// Unix milliseconds as Japan time `yyyy/MM/dd HH:mm:ss`.
pub fn jst(unix_ms: u64) -> String {
    let Some(offset) = FixedOffset::east_opt(JST_OFFSET_S) else {
        return unix_ms.to_string();
    };
    match i64::try_from(unix_ms).ok().and_then(DateTime::from_timestamp_millis) {
        Some(utc) => utc.with_timezone(&offset).format("%Y/%m/%d %H:%M:%S").to_string(),
        None => format!("{unix_ms} ms"),
    }
}

/// `yyyymmdd` as `yyyy/MM/dd`; 0 (no date) as `-`.
pub fn date(yyyymmdd: u32) -> String {
    if yyyymmdd == 0 {
        return "-".to_owned();
    }
    format!("{:04}/{:02}/{:02}", yyyymmdd / 10_000, yyyymmdd / 100 % 100, yyyymmdd % 100)
}

/// Columns a string takes on a terminal: full-width (CJK, kana) characters take two.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0..=0x10FF => 1,
            // Half-width katakana and forms.
            0xFF61..=0xFFDC | 0xFFE8..=0xFFEE => 1,
            _ => 2,
        })
        .sum()
}

/// Label / value lines with the values aligned.
pub fn rows(rows: &[(&str, String)]) -> String {
    let label_width = rows.iter().map(|(l, _)| width(l)).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in rows {
        out.push_str(label);
        out.push_str(&" ".repeat(label_width - width(label)));
        out.push_str("  ");
        out.push_str(value);
        out.push('\n');
    }
    out
}

fn kind_label(kind: TerminalKind) -> &'static str {
    match kind {
        TerminalKind::ServiceId => "(ア) サービスID確認 (service-ID check)",
        TerminalKind::PointUse => "(イ) ポイント利用 (point use)",
        TerminalKind::TicketIssuing => "(ウ) ポイント券発行 (ticket issuing)",
        TerminalKind::Granting => "(エ) 行政ポイント付与 (granting)",
    }
}

/// The session banner after a login.
pub fn login(ok: &LoginOk) -> String {
    rows(&[
        ("端末名 (terminal)", ok.terminal_name.clone()),
        ("端末種別 (kind)", kind_label(ok.terminal_kind).to_owned()),
        ("設置場所 (location)", ok.location_name.clone()),
        ("自治体 (municipality)", format!("{} ({})", ok.municipality_name, ok.municipality_code)),
        ("業務日付 (business date)", date(ok.business_date)),
        ("サーバ時刻 (server time, JST)", jst(ok.server_time_ms)),
    ])
}

/// A card-read answer: the MyKey ID and the balances usable here.
pub fn card(ok: &CardReadOk) -> String {
    let mut out = rows(&[("マイキーID (MyKey ID)", ok.mykey_id.to_string())]);
    if ok.accounts.is_empty() {
        out.push_str("この端末で利用できるポイントはありません (no points usable at this terminal)\n");
        return out;
    }
    out.push_str("利用可能ポイント (usable points):\n");
    let lines: Vec<(String, String)> = ok
        .accounts
        .iter()
        .map(|a| {
            let kind = match a.account.kind {
                AccountKind::Municipal => "自治体",
                AccountKind::Event => "イベント",
                AccountKind::Reserved => "留保",
            };
            let mut value = format!("{} pt", thousands(a.balance));
            if a.usable_until != 0 {
                value.push_str(&format!("  利用期限 (until) {}", date(a.usable_until)));
            }
            (format!("  {} [{} {}]", a.name, kind, a.account), value)
        })
        .collect();
    let borrowed: Vec<(&str, String)> = lines.iter().map(|(l, v)| (l.as_str(), v.clone())).collect();
    out.push_str(&rows(&borrowed));
    out
}

/// The receipt of a redemption.
pub fn redeem_receipt(ok: &RedeemOk) -> String {
    let mut out = String::from("── ポイント利用 (point use) ──\n");
    out.push_str(&rows(&[
        ("取引済番号 (transaction no.)", ok.txn_no.to_string()),
        ("取引日時 (date and time, JST)", jst(ok.txn_time_ms)),
        ("端末ID (terminal ID)", ok.terminal_id.to_string()),
        ("設置場所 (location)", ok.location_name.clone()),
        ("マイキーID (MyKey ID)", ok.mykey_id.to_string()),
        ("ポイント名 (point name)", ok.account_name.clone()),
        ("利用ポイント数 (points used)", format!("{} pt", thousands(ok.points))),
        ("利用後残高 (balance after)", format!("{} pt", thousands(ok.balance_after))),
        ("シーケンス番号 (seq)", ok.seq.to_string()),
    ]));
    if ok.replayed {
        out.push_str("※ 再送への応答です。二重には利用されていません (answer to a retry: applied once)\n");
    }
    out
}

/// The receipt of a void.
pub fn void_receipt(ok: &VoidOk) -> String {
    let mut out = String::from("── 利用取消 (void) ──\n");
    out.push_str(&rows(&[
        ("取消取引番号 (void transaction no.)", ok.txn_no.to_string()),
        ("元取引済番号 (original transaction no.)", ok.original_txn_no.to_string()),
        ("取引日時 (date and time, JST)", jst(ok.txn_time_ms)),
        ("端末ID (terminal ID)", ok.terminal_id.to_string()),
        ("設置場所 (location)", ok.location_name.clone()),
        ("マイキーID (MyKey ID)", ok.mykey_id.to_string()),
        ("ポイント名 (point name)", ok.account_name.clone()),
        ("返還ポイント数 (points returned)", format!("{} pt", thousands(ok.points))),
        ("取消後残高 (balance after)", format!("{} pt", thousands(ok.balance_after))),
        ("シーケンス番号 (seq)", ok.seq.to_string()),
    ]));
    if ok.replayed {
        out.push_str("※ 再送への応答です。二重には取り消されていません (answer to a retry: applied once)\n");
    }
    out
}

/// The printed point ticket: its number (also the QR code's content), points and last day.
pub fn ticket(ok: &TicketIssueOk, replaced: Option<TicketNo>) -> String {
    let mut out = String::from(if replaced.is_some() {
        "── ポイント券 再発行 (point ticket reissued) ──\n"
    } else {
        "── ポイント券 (point ticket) ──\n"
    });
    let mut lines = vec![
        ("発券番号 (ticket no., QR)", ok.ticket_no.to_string()),
        ("ポイント数 (points)", format!("{} pt", thousands(ok.points))),
        ("ポイント名 (point name)", ok.account_name.clone()),
        ("有効期限 (valid through)", date(ok.expires_on)),
        ("発行日時 (issued, JST)", jst(ok.txn_time_ms)),
        ("取引済番号 (transaction no.)", ok.txn_no.to_string()),
        ("マイキーID (MyKey ID)", ok.mykey_id.to_string()),
        ("発行後残高 (balance after)", format!("{} pt", thousands(ok.balance_after))),
        ("シーケンス番号 (seq)", ok.seq.to_string()),
    ];
    if let Some(old) = replaced {
        lines.push(("無効になった券 (replaced ticket)", old.to_string()));
    }
    out.push_str(&rows(&lines));
    out.push_str("発行認印欄 (issuance seal): ＿＿＿＿   利用店舗印欄 (store seal): ＿＿＿＿\n");
    if ok.replayed {
        out.push_str("※ 再送への応答です。二重には発行されていません (answer to a retry: issued once)\n");
    }
    out
}

/// A ticket read before clearing (画面35).
pub fn ticket_info(ok: &TicketLookupOk) -> String {
    let mut out = String::from("── ポイント券情報 (point ticket) ──\n");
    out.push_str(&rows(&[
        ("発券番号 (ticket no.)", ok.ticket_no.to_string()),
        ("状態 (state)", ok.state.label().to_owned()),
        ("ポイント数 (points)", format!("{} pt", thousands(ok.points))),
        ("ポイント名 (point name)", ok.account_name.clone()),
        ("有効期限 (valid through)", date(ok.expires_on)),
        ("発行日時 (issued, JST)", jst(ok.issued_at_ms)),
    ]));
    out
}

/// The clearing receipt (画面36).
pub fn clearing_receipt(ok: &TicketClearOk) -> String {
    let mut out = String::from("── ポイント券消込 (ticket cleared) ──\n");
    out.push_str(&rows(&[
        ("発券番号 (ticket no.)", ok.ticket_no.to_string()),
        ("取引済番号 (transaction no.)", ok.txn_no.to_string()),
        ("消込日時 (cleared, JST)", jst(ok.txn_time_ms)),
        ("端末ID (terminal ID)", ok.terminal_id.to_string()),
        ("設置場所 (location)", ok.location_name.clone()),
        ("ポイント名 (point name)", ok.account_name.clone()),
        ("精算ポイント数 (points settled)", format!("{} pt", thousands(ok.points))),
        ("シーケンス番号 (seq)", ok.seq.to_string()),
    ]));
    if ok.replayed {
        out.push_str("※ 再送への応答です。二重には消し込まれていません (answer to a retry: cleared once)\n");
    }
    out
}

/// A short Japanese description of an error code for the person at the counter.
pub fn error_ja(code: ErrorCode) -> &'static str {
    code.meaning_ja()
}

/// An error as printed for people: code name, number and message, plus what to do when the
/// outcome is unknown.
pub fn error(e: &ClientError) -> String {
    match e {
        ClientError::Server(body) => match body.code() {
            Some(code) => {
                format!("エラー (error): {} — {} {}: {}", error_ja(code), code.name(), code.as_u16(), body.message)
            }
            None => format!("エラー (error): 未知のコード (unknown code) {}: {}", body.code, body.message),
        },
        ClientError::Closed | ClientError::Io(_) | ClientError::Timeout | ClientError::Protocol(_) => format!(
            "エラー (error): 結果不明 (outcome unknown) — {e}\n\
             利用・取消は同じシーケンス番号 (--seq) で再送すると結果を確認できます \
             (for redeem and void, resend with the same --seq to learn the result)"
        ),
        ClientError::NotDemoTerminal(_) => format!("エラー (error): {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands_signed(-1_234), "-1,234");
        assert_eq!(thousands_signed(12), "12");
    }

    #[test]
    fn jst_is_nine_hours_ahead() {
        // 2026-11-25T00:30:15Z
        assert_eq!(jst(1_795_566_615_000), "2026/11/25 09:30:15");
        assert_eq!(date(20261125), "2026/11/25");
    }

    #[test]
    fn rows_align_full_width_labels() {
        let text = rows(&[("端末ID", "1".to_owned()), ("ab", "2".to_owned())]);
        assert_eq!(text, "端末ID  1\nab      2\n");
    }
}
