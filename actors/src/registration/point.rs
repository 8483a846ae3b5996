//! A municipality's point (F4, T1) and a special support event (F5, T2) as their forms are
//! validated. Defaults where the manual is open (REQUIREMENTS §5): the expiry is optional, a
//! fixed date or N months after each credit (A1); an event's bank account is required only when
//! its owner has no municipal-point account of its own (A36, R30); a municipal point is
//! registered by a 市区町村, an event by a 市区町村 or a 都道府県 (R29).

use protocol::{MunicipalityCode, TerminalId};

use super::bank_account::{BankAccount, BankAccountForm};
use super::{narrow_digit, require, FieldError};

/// When points of this kind expire (A1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExpiryPolicy {
    /// Every lot expires on this Japan date (`yyyymmdd`, last valid day).
    FixedDate { date: u32 },
    /// Each credit expires this many months after it was credited (1 to 120).
    MonthsAfterCredit { months: u16 },
}

/// The organisation and contact fields F4 and F5 share.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct ContactForm {
    pub department: String,
    pub contact_person: String,
    pub postal_code: String,
    pub address: String,
    pub phone: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Contact {
    pub department: String,
    pub contact_person: String,
    /// `NNN-NNNN`.
    pub postal_code: String,
    pub address: String,
    /// Digits and hyphens as typed, at most 13 characters.
    pub phone: String,
    pub email: String,
}

/// 画面4: a municipality registers its point.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct MunicipalPointForm {
    pub point_name: String,
    pub expiry: Option<ExpiryPolicy>,
    pub municipality_name: String,
    pub municipality_code: String,
    #[serde(flatten)]
    pub contact: ContactForm,
    pub bank: BankAccountForm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MunicipalPoint {
    pub point_name: String,
    pub expiry: Option<ExpiryPolicy>,
    pub municipality_name: String,
    pub municipality_code: MunicipalityCode,
    pub contact: Contact,
    pub bank: BankAccount,
}

/// 画面5-1 and 5-2: a municipality or prefecture registers a special support event.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct SupportEventForm {
    pub point_name: String,
    pub expiry: Option<ExpiryPolicy>,
    /// サービス期間, Japan dates `yyyymmdd`, both days included.
    pub service_from: u32,
    pub service_to: u32,
    pub owner_name: String,
    /// The registering 市区町村 or 都道府県.
    pub owner_code: String,
    #[serde(flatten)]
    pub contact: ContactForm,
    /// Only where it differs from the owner's municipal-point account.
    pub bank: Option<BankAccountForm>,
    /// Terminal ids (8 digits) where the event's points can be used; at least one (R31).
    pub terminals: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportEvent {
    pub point_name: String,
    pub expiry: Option<ExpiryPolicy>,
    pub service_from: u32,
    pub service_to: u32,
    pub owner_name: String,
    pub owner_code: MunicipalityCode,
    pub owner_is_prefecture: bool,
    pub contact: Contact,
    /// None: settled to the owner's municipal-point account.
    pub bank: Option<BankAccount>,
    pub terminals: Vec<TerminalId>,
}

/// Whether a local government code is a prefecture's (`PP000C`) rather than a 市区町村's.
pub fn is_prefecture(code: &MunicipalityCode) -> bool {
    &code.as_str()[2..5] == "000"
}

impl MunicipalPointForm {
    pub fn validate(&self) -> Result<MunicipalPoint, Vec<FieldError>> {
        let mut errors = Vec::new();
        let point_name = require("point_name", &self.point_name, 40, &mut errors);
        let expiry = expiry(self.expiry, &mut errors);
        let municipality_name = require("municipality_name", &self.municipality_name, 40, &mut errors);
        let code = local_government_code("municipality_code", &self.municipality_code, &mut errors);
        if let Some(c) = &code {
            if is_prefecture(c) {
                errors.push(FieldError::new(
                    "municipality_code",
                    "not_municipality",
                    "自治体ポイントは市区町村が登録します (都道府県のコードです)",
                ));
            }
        }
        let contact = self.contact.validate(&mut errors);
        let bank = self.bank.validate("bank.", &mut errors);
        match (point_name, expiry, municipality_name, code, contact, bank) {
            (
                Some(point_name),
                Some(expiry),
                Some(municipality_name),
                Some(municipality_code),
                Some(contact),
                Some(bank),
            ) if errors.is_empty() => {
                Ok(MunicipalPoint { point_name, expiry, municipality_name, municipality_code, contact, bank })
            }
            _ => Err(errors),
        }
    }
}

impl SupportEventForm {
    /// `owner_has_point_account`: whether the owner registered a municipal point (and with it a
    /// bank account) the event can be settled to.
    pub fn validate(&self, owner_has_point_account: bool) -> Result<SupportEvent, Vec<FieldError>> {
        let mut errors = Vec::new();
        let point_name = require("point_name", &self.point_name, 40, &mut errors);
        let expiry = expiry(self.expiry, &mut errors);
        let owner_name = require("owner_name", &self.owner_name, 40, &mut errors);
        let owner_code = local_government_code("owner_code", &self.owner_code, &mut errors);
        let from = date("service_from", self.service_from, &mut errors);
        let to = date("service_to", self.service_to, &mut errors);
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                errors.push(FieldError::new("service_to", "before_start", "サービス期間の終了日が開始日より前です"));
            }
        }
        let contact = self.contact.validate(&mut errors);
        let bank = match &self.bank {
            Some(form) => form.validate("bank.", &mut errors).map(Some),
            None if owner_has_point_account => Some(None),
            None => {
                errors.push(FieldError::new(
                    "bank",
                    "required",
                    "自治体ポイントの振込先がないため、振込先金融機関情報を入力してください",
                ));
                None
            }
        };
        let terminals = terminal_list(&self.terminals, &mut errors);
        match (point_name, expiry, owner_name, owner_code, contact, bank, terminals) {
            (
                Some(point_name),
                Some(expiry),
                Some(owner_name),
                Some(owner_code),
                Some(contact),
                Some(bank),
                Some(terminals),
            ) if errors.is_empty() => Ok(SupportEvent {
                point_name,
                expiry,
                service_from: self.service_from,
                service_to: self.service_to,
                owner_name,
                owner_is_prefecture: is_prefecture(&owner_code),
                owner_code,
                contact,
                bank,
                terminals,
            }),
            _ => Err(errors),
        }
    }
}

impl ContactForm {
    fn validate(&self, errors: &mut Vec<FieldError>) -> Option<Contact> {
        let department = require("department", &self.department, 60, errors);
        let contact_person = require("contact_person", &self.contact_person, 40, errors);
        let postal_code = postal_code(&self.postal_code, errors);
        let address = require("address", &self.address, 120, errors);
        let phone = phone(&self.phone, errors);
        let email = email(&self.email, errors);
        Some(Contact {
            department: department?,
            contact_person: contact_person?,
            postal_code: postal_code?,
            address: address?,
            phone: phone?,
            email: email?,
        })
    }
}

/// `Some(policy)` when valid; the outer Option says whether the field is fine.
fn expiry(policy: Option<ExpiryPolicy>, errors: &mut Vec<FieldError>) -> Option<Option<ExpiryPolicy>> {
    match policy {
        None => Some(None),
        Some(ExpiryPolicy::FixedDate { date: d }) => date("expiry.date", d, errors).map(|_| policy),
        Some(ExpiryPolicy::MonthsAfterCredit { months }) if (1..=120).contains(&months) => Some(policy),
        Some(ExpiryPolicy::MonthsAfterCredit { .. }) => {
            errors.push(FieldError::new("expiry.months", "range", "有効期限の月数は1から120までです"));
            None
        }
    }
}

fn local_government_code(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<MunicipalityCode> {
    let value = value.trim();
    if value.len() != 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(FieldError::new(field, "digits", "全国地方公共団体コードは数字6桁です"));
        return None;
    }
    match value.parse::<MunicipalityCode>() {
        Ok(code) => Some(code),
        Err(_) => {
            errors.push(FieldError::new(field, "check_digit", "全国地方公共団体コードの検査数字が合いません"));
            None
        }
    }
}

fn date(field: &str, yyyymmdd: u32, errors: &mut Vec<FieldError>) -> Option<u32> {
    let valid = chrono::NaiveDate::from_ymd_opt((yyyymmdd / 10_000) as i32, yyyymmdd / 100 % 100, yyyymmdd % 100)
        .is_some_and(|_| (2000_0101..=2099_1231).contains(&yyyymmdd));
    if valid {
        Some(yyyymmdd)
    } else {
        errors.push(FieldError::new(field, "date", "日付は yyyymmdd の形で入力してください"));
        None
    }
}

/// `NNN-NNNN` (also taken as 7 digits without the hyphen, or in full-width digits).
fn postal_code(value: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let digits: String = value
        .trim()
        .trim_start_matches('〒')
        .chars()
        .filter(|c| !matches!(c, '-' | '－' | 'ー'))
        .map(narrow_digit)
        .collect();
    if digits.len() == 7 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("{}-{}", &digits[..3], &digits[3..]))
    } else {
        errors.push(FieldError::new("postal_code", "format", "郵便番号は 123-4567 の形で入力してください"));
        None
    }
}

/// A Japanese phone number: starts with 0, 10 or 11 digits, hyphens allowed between.
fn phone(value: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = value.trim();
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    let shape_ok = value.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && value.starts_with('0')
        && !value.ends_with('-')
        && !value.contains("--");
    if shape_ok && (10..=11).contains(&digits) {
        Some(value.to_owned())
    } else {
        errors.push(FieldError::new("phone", "format", "電話番号は 044-200-2111 のように半角で入力してください"));
        None
    }
}

/// A deliverable-looking address: one `@`, something before it, a dotted domain after it.
fn email(value: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = value.trim();
    let ok = value.len() <= 254
        && value.is_ascii()
        && !value.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        && match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            }
            None => false,
        };
    if ok {
        Some(value.to_owned())
    } else {
        errors.push(FieldError::new("email", "format", "メールアドレスの形が正しくありません"));
        None
    }
}

/// At least one terminal (R31), each an 8-digit id, none twice.
fn terminal_list(ids: &[String], errors: &mut Vec<FieldError>) -> Option<Vec<TerminalId>> {
    if ids.is_empty() {
        errors.push(FieldError::new("terminals", "required", "ポイント利用先の端末を選んでから登録してください"));
        return None;
    }
    let mut out: Vec<TerminalId> = Vec::with_capacity(ids.len());
    let mut ok = true;
    for (i, id) in ids.iter().enumerate() {
        let field = format!("terminals[{i}]");
        let parsed = id.trim().as_bytes();
        match (parsed.len() == 8).then(|| TerminalId::from_ascii(parsed).ok()).flatten() {
            Some(t) if out.contains(&t) => {
                errors.push(FieldError::new(field, "duplicate", "同じ端末が二度選ばれています"));
                ok = false;
            }
            Some(t) => out.push(t),
            None => {
                errors.push(FieldError::new(field, "digits", "端末IDは数字8桁です"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact() -> ContactForm {
        crate::demo::kawasaki_point_form().contact
    }

    fn bank() -> BankAccountForm {
        crate::demo::kawasaki_point_form().bank
    }

    fn kawasaki() -> MunicipalPointForm {
        crate::demo::kawasaki_point_form()
    }

    fn museum_event() -> SupportEventForm {
        SupportEventForm {
            point_name: "かわさきミュージアム応援イベント".into(),
            expiry: None,
            service_from: 20261201,
            service_to: 20270331,
            owner_name: "川崎市".into(),
            owner_code: "141305".into(),
            contact: contact(),
            bank: None,
            terminals: vec!["00052559".into(), "00052560".into()],
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors.iter().map(|e| (e.field.as_str(), e.code)).collect()
    }

    #[test]
    fn kawasakis_point_registers() {
        let point = kawasaki().validate().expect("valid");
        assert_eq!(point.municipality_code.as_str(), "141305");
        assert_eq!(point.contact.postal_code, "210-8577");
        assert_eq!(point.bank.holder_kana, "ｶﾜｻｷｼ");
    }

    #[test]
    fn r28_the_code_is_six_digits_with_its_check_digit_and_a_municipalitys() {
        for (code, expected) in [("141306", "check_digit"), ("14130", "digits"), ("14130A", "digits")] {
            let errors = MunicipalPointForm { municipality_code: code.into(), ..kawasaki() }.validate().unwrap_err();
            assert_eq!(fields(&errors), [("municipality_code", expected)], "{code}");
        }
        assert!(MunicipalPointForm { municipality_code: "131016".into(), ..kawasaki() }.validate().is_ok());
        // 140007 is 神奈川県: a prefecture registers events, not a municipal point (R29).
        let errors = MunicipalPointForm { municipality_code: "140007".into(), ..kawasaki() }.validate().unwrap_err();
        assert_eq!(fields(&errors), [("municipality_code", "not_municipality")]);
    }

    #[test]
    fn every_wrong_field_is_named_at_once() {
        let form = MunicipalPointForm {
            point_name: "".into(),
            expiry: Some(ExpiryPolicy::MonthsAfterCredit { months: 0 }),
            contact: ContactForm {
                postal_code: "21-8577".into(),
                phone: "44-200-2111".into(),
                email: "point@kawasaki".into(),
                ..contact()
            },
            bank: BankAccountForm { account_number: "".into(), ..bank() },
            ..kawasaki()
        };
        let errors = form.validate().unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("point_name", "required"),
                ("expiry.months", "range"),
                ("postal_code", "format"),
                ("phone", "format"),
                ("email", "format"),
                ("bank.account_number", "digits"),
            ]
        );
        assert!(errors.iter().all(|e| !e.message.is_empty()));
    }

    #[test]
    fn contact_fields_take_what_people_type() {
        let form = MunicipalPointForm {
            contact: ContactForm {
                postal_code: "〒２１０８５７７".into(), phone: "0442002111".into(), ..contact()
            },
            ..kawasaki()
        };
        let point = form.validate().unwrap();
        assert_eq!((point.contact.postal_code.as_str(), point.contact.phone.as_str()), ("210-8577", "0442002111"));
    }

    #[test]
    fn r30_r31_an_event_needs_terminals_and_a_bank_only_where_the_owner_has_none() {
        let event = museum_event().validate(true).expect("valid");
        assert_eq!(event.bank, None, "settled to the municipal point's account");
        assert_eq!(event.terminals.len(), 2);

        let errors = SupportEventForm { terminals: vec![], ..museum_event() }.validate(true).unwrap_err();
        assert_eq!(fields(&errors), [("terminals", "required")]);
        let errors =
            SupportEventForm { terminals: vec!["00052559".into(), "00052559".into(), "5255".into()], ..museum_event() }
                .validate(true)
                .unwrap_err();
        assert_eq!(fields(&errors), [("terminals[1]", "duplicate"), ("terminals[2]", "digits")]);

        // 神奈川県 has no municipal point of its own: its event needs an account (A36)…
        let prefecture =
            SupportEventForm { owner_name: "神奈川県".into(), owner_code: "140007".into(), ..museum_event() };
        assert_eq!(fields(&prefecture.validate(false).unwrap_err()), [("bank", "required")]);
        // …and with one, a prefecture registers events (R29).
        let event = SupportEventForm { bank: Some(bank()), ..prefecture }.validate(false).expect("valid");
        assert!(event.owner_is_prefecture);
        assert!(event.bank.is_some());
    }

    #[test]
    fn r32_the_service_period_is_two_real_dates_in_order() {
        let errors = SupportEventForm { service_from: 20270401, ..museum_event() }.validate(true).unwrap_err();
        assert_eq!(fields(&errors), [("service_to", "before_start")]);
        let errors = SupportEventForm { service_to: 20270230, ..museum_event() }.validate(true).unwrap_err();
        assert_eq!(fields(&errors), [("service_to", "date")]);
        let fixed = SupportEventForm { expiry: Some(ExpiryPolicy::FixedDate { date: 20271301 }), ..museum_event() };
        assert_eq!(fields(&fixed.validate(true).unwrap_err()), [("expiry.date", "date")]);
    }
}
