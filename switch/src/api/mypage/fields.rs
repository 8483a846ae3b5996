//! Fields the creation of a MyKey ID and the profile share: password, e-mail, default
//! municipality, and how an identity conflict is answered.

use actors::registry::IdentityConflict;
use protocol::MunicipalityCode;

use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;

pub(super) fn validate_password(p: Option<&str>) -> Result<String, Problem> {
    match p {
        Some(p) if (8..=128).contains(&p.chars().count()) => Ok(p.to_owned()),
        _ => Err(Problem::field("password", "length", "パスワードは8文字以上128文字以内で入力してください")),
    }
}

pub(super) fn validate_email(e: Option<&str>) -> Result<Option<String>, Problem> {
    match e.map(str::trim) {
        None | Some("") => Ok(None),
        Some(e) => {
            let ok = e.len() <= 254 && e.is_ascii() && !e.contains(char::is_whitespace) && {
                let mut parts = e.splitn(2, '@');
                let (local, domain) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            };
            if ok {
                Ok(Some(e.to_owned()))
            } else {
                Err(Problem::field("email", "format", "メールアドレスの形式が不正です"))
            }
        }
    }
}

/// R17/R18: the default municipality must have a registered municipal point; an event code or
/// a prefecture is never one.
pub(super) async fn default_municipality(state: &ApiState, text: Option<&str>) -> Result<MunicipalityCode, Problem> {
    let refuse = || {
        Problem::field(
            "default_municipality",
            "not_municipal_point",
            "基本自治体には自治体ポイントを登録した市区町村を選んでください",
        )
    };
    let code: MunicipalityCode = text.and_then(|t| t.parse().ok()).ok_or_else(refuse)?;
    if state.catalog.current().municipalities.contains_key(&code) {
        Ok(code)
    } else {
        Err(refuse())
    }
}

pub(super) fn identity_problem(conflict: IdentityConflict) -> Problem {
    match conflict {
        IdentityConflict::MyKeyTaken => Problem::of(ProblemCode::MyKeyTaken),
        IdentityConflict::CardLinked => Problem::of(ProblemCode::CardLinked),
    }
}
