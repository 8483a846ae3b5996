//! The settlement bank account of a municipality or event (振込先金融機関情報, T1), in the form
//! Japanese bank transfers (全銀協 format) carry it: 4-digit bank code, 3-digit branch code,
//! account type, 7-digit account number, and the holder's name in half-width katakana.
//!
//! People type the holder's name as they see it on the passbook — full-width katakana, small
//! kana, long-vowel marks, full-width letters. [`zengin_kana`] turns that into the characters a
//! transfer file may hold (half-width katakana with separate voicing marks, A–Z, 0–9, space and
//! `( ) . - / ,`), and refuses what has no such form (kanji, hiragana, other symbols): a name a
//! bank would reject is better refused at the form than at the first transfer.

use super::{narrow_digit, require, FieldError};

/// Length limit of the holder's name in a transfer record (half-width characters).
pub const HOLDER_KANA_MAX: usize = 30;

/// 預金種目 with its code in transfer files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// 普通 (1)
    Ordinary,
    /// 当座 (2)
    Current,
    /// 貯蓄 (4)
    Savings,
}

impl AccountType {
    pub fn zengin_code(self) -> u8 {
        match self {
            AccountType::Ordinary => 1,
            AccountType::Current => 2,
            AccountType::Savings => 4,
        }
    }

    pub fn name_ja(self) -> &'static str {
        match self {
            AccountType::Ordinary => "普通",
            AccountType::Current => "当座",
            AccountType::Savings => "貯蓄",
        }
    }
}

/// The account as entered on the form.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct BankAccountForm {
    pub bank_name: String,
    pub bank_code: String,
    pub branch_name: String,
    pub branch_code: String,
    pub account_type: Option<AccountType>,
    pub account_number: String,
    pub holder_name: String,
}

/// A validated account, holder's name normalized for transfers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BankAccount {
    pub bank_name: String,
    pub bank_code: String,
    pub branch_name: String,
    pub branch_code: String,
    pub account_type: AccountType,
    pub account_number: String,
    /// 口座名義人 in half-width katakana as transfers carry it.
    pub holder_kana: String,
}

impl BankAccountForm {
    /// The account, or every field that is wrong (named with `prefix`, e.g. `bank.`).
    pub fn validate(&self, prefix: &str, errors: &mut Vec<FieldError>) -> Option<BankAccount> {
        let field = |name: &str| format!("{prefix}{name}");
        let bank_name = require(&field("bank_name"), &self.bank_name, 40, errors);
        let branch_name = require(&field("branch_name"), &self.branch_name, 40, errors);
        let bank_code = digits(&field("bank_code"), &self.bank_code, 4, "金融機関コード", errors);
        let branch_code = digits(&field("branch_code"), &self.branch_code, 3, "支店コード", errors);
        let account_number = account_number(&field("account_number"), &self.account_number, errors);
        if self.account_type.is_none() {
            errors.push(FieldError::new(
                field("account_type"),
                "required",
                "口座種別を選んでください (普通・当座・貯蓄)",
            ));
        }
        let holder_kana = match zengin_kana(self.holder_name.trim()) {
            Ok(kana) if kana.is_empty() => {
                errors.push(FieldError::new(field("holder_name"), "required", "口座名義人を入力してください"));
                None
            }
            Ok(kana) if kana.chars().count() > HOLDER_KANA_MAX => {
                errors.push(FieldError::new(
                    field("holder_name"),
                    "too_long",
                    format!("口座名義人は半角{HOLDER_KANA_MAX}文字以内にしてください"),
                ));
                None
            }
            Ok(kana) => Some(kana),
            Err(c) => {
                errors.push(FieldError::new(
                    field("holder_name"),
                    "not_transferable",
                    format!("口座名義人はカナ・英数字で入力してください (使えない文字: 「{c}」)"),
                ));
                None
            }
        };
        Some(BankAccount {
            bank_name: bank_name?,
            bank_code: bank_code?,
            branch_name: branch_name?,
            branch_code: branch_code?,
            account_type: self.account_type?,
            account_number: account_number?,
            holder_kana: holder_kana?,
        })
    }
}

/// Exactly `len` ASCII digits (full-width digits are taken as typed by people).
fn digits(field: &str, value: &str, len: usize, label: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let normalized: String = value.trim().chars().map(narrow_digit).collect();
    if normalized.len() == len && normalized.bytes().all(|b| b.is_ascii_digit()) {
        Some(normalized)
    } else {
        errors.push(FieldError::new(field, "digits", format!("{label}は数字{len}桁で入力してください")));
        None
    }
}

/// 口座番号: up to 7 digits, zero-padded to 7 as transfer files carry it.
fn account_number(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let normalized: String = value.trim().chars().map(narrow_digit).collect();
    if (1..=7).contains(&normalized.len()) && normalized.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("{normalized:0>7}"))
    } else {
        errors.push(FieldError::new(field, "digits", "口座番号は数字7桁以内で入力してください"));
        None
    }
}

/// The holder's name as a transfer carries it, or the first character that has no such form.
pub fn zengin_kana(input: &str) -> Result<String, char> {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            'A'..='Z' | '0'..='9' | ' ' | '(' | ')' | '.' | '-' | '/' | ',' => out.push(c),
            'a'..='z' => out.push(c.to_ascii_uppercase()),
            // Full-width ASCII forms (Ａ, ａ, ０, （ …) and the ideographic space.
            '\u{FF01}'..='\u{FF5E}' => {
                let ascii = char::from_u32(c as u32 - 0xFEE0).unwrap_or(c).to_ascii_uppercase();
                match ascii {
                    'A'..='Z' | '0'..='9' | '(' | ')' | '.' | '-' | '/' | ',' => out.push(ascii),
                    _ => return Err(c),
                }
            }
            '\u{3000}' => out.push(' '),
            // Long vowel marks and dashes become the hyphen transfers use.
            'ー' | 'ｰ' | '‐' | '—' | '–' => out.push('-'),
            '・' | '･' => out.push('.'),
            'ｦ'..='ﾟ' => out.push(large_half(c)),
            'ァ'..='ヴ' => push_half_katakana(c, &mut out)?,
            _ => return Err(c),
        }
    }
    Ok(out)
}

/// Small half-width kana are written large in transfers (ｧ → ｱ, ｯ → ﾂ, ｬ → ﾔ …).
fn large_half(c: char) -> char {
    match c {
        'ｧ' => 'ｱ',
        'ｨ' => 'ｲ',
        'ｩ' => 'ｳ',
        'ｪ' => 'ｴ',
        'ｫ' => 'ｵ',
        'ｬ' => 'ﾔ',
        'ｭ' => 'ﾕ',
        'ｮ' => 'ﾖ',
        'ｯ' => 'ﾂ',
        other => other,
    }
}

/// A full-width katakana as half-width: voiced and semi-voiced ones split into base + mark.
fn push_half_katakana(c: char, out: &mut String) -> Result<(), char> {
    const DAKUTEN: char = 'ﾞ';
    const HANDAKUTEN: char = 'ﾟ';
    let (base, mark) = match c {
        'ヴ' => ('ウ', Some(DAKUTEN)),
        'ガ' | 'ギ' | 'グ' | 'ゲ' | 'ゴ' | 'ザ' | 'ジ' | 'ズ' | 'ゼ' | 'ゾ' | 'ダ' | 'ヂ' | 'ヅ' | 'デ' | 'ド'
        | 'バ' | 'ビ' | 'ブ' | 'ベ' | 'ボ' => (char::from_u32(c as u32 - 1).unwrap_or(c), Some(DAKUTEN)),
        'パ' | 'ピ' | 'プ' | 'ペ' | 'ポ' => (char::from_u32(c as u32 - 2).unwrap_or(c), Some(HANDAKUTEN)),
        _ => (c, None),
    };
    const FULL: &str = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン";
    const HALF: &str = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝ";
    const SMALL: &str = "ァィゥェォッャュョヮ";
    const SMALL_AS: &str = "ｱｲｳｴｵﾂﾔﾕﾖﾜ";
    let half = FULL
        .chars()
        .position(|f| f == base)
        .and_then(|i| HALF.chars().nth(i))
        .or_else(|| SMALL.chars().position(|f| f == base).and_then(|i| SMALL_AS.chars().nth(i)))
        .ok_or(c)?;
    out.push(half);
    out.extend(mark);
    Ok(())
}

/// Kawasaki's account as a form, for tests here and of the forms that hold an account.
#[cfg(test)]
pub(crate) fn sample_form() -> BankAccountForm {
    BankAccountForm {
        holder_name: "カワサキシ カイケイカンリシャ".into(), ..crate::demo::kawasaki_point_form().bank
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_names_become_what_transfers_carry() {
        assert_eq!(zengin_kana("カワサキシ").unwrap(), "ｶﾜｻｷｼ");
        assert_eq!(zengin_kana("ガッコウ").unwrap(), "ｶﾞﾂｺｳ", "voiced split, small ッ written large");
        assert_eq!(zengin_kana("ポイント").unwrap(), "ﾎﾟｲﾝﾄ");
        assert_eq!(zengin_kana("ヴィーナス").unwrap(), "ｳﾞｲ-ﾅｽ");
        assert_eq!(zengin_kana("ｶ)ﾐﾗｲ").unwrap(), "ｶ)ﾐﾗｲ", "half-width and the corporate abbreviation");
        assert_eq!(zengin_kana("ｷｬｯｼｭ").unwrap(), "ｷﾔﾂｼﾕ");
        assert_eq!(zengin_kana("ＡＢＣ　ｓｈｏｐ１").unwrap(), "ABC SHOP1");
        assert_eq!(zengin_kana("川崎市"), Err('川'), "kanji has no transfer form");
        assert_eq!(zengin_kana("かわさき"), Err('か'), "nor hiragana");
        assert_eq!(zengin_kana("A&B"), Err('&'));
    }

    #[test]
    fn a_good_form_gives_the_account() {
        let mut errors = Vec::new();
        let account = sample_form().validate("bank.", &mut errors).expect("valid");
        assert!(errors.is_empty());
        assert_eq!(account.holder_kana, "ｶﾜｻｷｼ ｶｲｹｲｶﾝﾘｼﾔ");
        assert_eq!(account.account_type.zengin_code(), 1);
    }

    #[test]
    fn every_wrong_field_is_named() {
        let f = BankAccountForm {
            bank_name: " ".into(),
            bank_code: "138".into(),
            branch_code: "31A".into(),
            account_type: None,
            account_number: "12345678".into(),
            holder_name: "川崎市".into(),
            ..sample_form()
        };
        let mut errors = Vec::new();
        assert!(f.validate("bank.", &mut errors).is_none());
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "bank.bank_name",
                "bank.bank_code",
                "bank.branch_code",
                "bank.account_number",
                "bank.account_type",
                "bank.holder_name"
            ]
        );
    }

    #[test]
    fn short_account_numbers_are_zero_padded_and_full_width_digits_accepted() {
        let f = BankAccountForm {
            account_number: "１２３４".into(), bank_code: "０１３８".into(), ..sample_form()
        };
        let account = f.validate("", &mut Vec::new()).unwrap();
        assert_eq!((account.account_number.as_str(), account.bank_code.as_str()), ("0001234", "0138"));
    }
}
