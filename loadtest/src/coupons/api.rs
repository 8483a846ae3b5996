//! The calls `loadtest coupons` makes, typed: my-page login and balances, coupon issuance and
//! download as the demo partner, and redemption.

use serde_json::{json, Value};

use crate::http::{HttpClient, HttpError, HttpReply};

/// `Authorization` value's token of the demo partner (all abilities).
pub const PARTNER_KEY: &str = actors::demo::DEMO_PARTNER_KEY;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The switch answered with a problem document (or another unexpected status).
    #[error("{status} {code}")]
    Refused { status: u16, code: String },
}

impl ApiError {
    /// The problem code, or `http` for a connection failure: the key of the error tally.
    pub fn code(&self) -> String {
        match self {
            ApiError::Http(_) => "http".to_owned(),
            ApiError::Refused { code, .. } => code.clone(),
        }
    }

    /// Worth sending again unchanged: the connection failed, the switch was busy, or it is
    /// still working on an earlier send of the same issuance.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Http(_) => true,
            ApiError::Refused { status, code } => *status == 503 || code == "idempotency-key-in-progress",
        }
    }
}

fn refused(reply: &HttpReply) -> ApiError {
    let code = reply.json()["code"].as_str().map(str::to_owned).unwrap_or_else(|| format!("status-{}", reply.status));
    ApiError::Refused { status: reply.status, code }
}

fn expect(reply: HttpReply, status: u16) -> Result<Value, ApiError> {
    if reply.status == status {
        Ok(reply.json())
    } else {
        Err(refused(&reply))
    }
}

/// Logs demo citizen `index` in on the my page; the session token.
pub async fn login(http: &mut HttpClient, index: u64) -> Result<String, ApiError> {
    let citizen = actors::demo::citizen(index);
    let body = json!({"mykey_id": citizen.mykey_id.as_str(), "password": actors::demo::MYPAGE_PASSWORD});
    let page = expect(http.json("POST", "/api/v1/mypage/login", None, &[], Some(&body)).await?, 200)?;
    page["token"].as_str().map(str::to_owned).ok_or(ApiError::Refused { status: 200, code: "no-token".into() })
}

/// Every point the citizen holds (reserved, municipal and event accounts), from the my page.
pub async fn total_balance(http: &mut HttpClient, token: &str) -> Result<u64, ApiError> {
    let page = expect(http.json("GET", "/api/v1/mypage", Some(token), &[], None).await?, 200)?;
    let sum = |list: &Value| list.as_array().map_or(0, |l| l.iter().filter_map(|b| b["balance"].as_u64()).sum::<u64>());
    Ok(page["reserved"].as_u64().unwrap_or(0) + sum(&page["municipal"]) + sum(&page["events"]))
}

/// One coupon as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub code: String,
    pub value: u64,
}

/// What one issuance asks for.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The Idempotency-Key: the batch's name, and what makes a resend safe.
    pub batch: String,
    pub value: u64,
    pub count: usize,
    pub expires_on: u32,
    /// None: the reserved account.
    pub destination: Option<String>,
}

/// Issues one batch as the demo partner (JSON answer).
pub async fn issue(http: &mut HttpClient, request: &IssueRequest) -> Result<Vec<Issued>, ApiError> {
    let mut body = json!({"value": request.value, "expires_on": request.expires_on, "count": request.count});
    if let Some(d) = &request.destination {
        body["destination"] = json!(d);
    }
    let headers = [("Idempotency-Key", request.batch.as_str()), ("Accept", "application/json")];
    let answer =
        expect(http.json("POST", "/api/v1/partner/coupons", Some(PARTNER_KEY), &headers, Some(&body)).await?, 201)?;
    Ok(coupons_of(&answer).into_iter().map(|(code, value, _)| Issued { code, value }).collect())
}

/// (code, value, state) of every coupon of a batch, downloaded again.
pub async fn download(http: &mut HttpClient, batch: &str) -> Result<Vec<(String, u64, String)>, ApiError> {
    let path = format!("/api/v1/partner/coupons?batch={}", url_component(batch));
    let answer =
        expect(http.json("GET", &path, Some(PARTNER_KEY), &[("Accept", "application/json")], None).await?, 200)?;
    Ok(coupons_of(&answer))
}

fn coupons_of(answer: &Value) -> Vec<(String, u64, String)> {
    answer["coupons"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|c| {
                    Some((c["code"].as_str()?.to_owned(), c["value"].as_u64()?, c["state"].as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What a redemption credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub points: u64,
    pub txn_no: String,
    pub replayed: bool,
}

pub async fn redeem(http: &mut HttpClient, token: &str, code: &str) -> Result<Redeemed, ApiError> {
    let body = json!({"code": code});
    let answer = expect(http.json("POST", "/api/v1/mypage/coupons/redeem", Some(token), &[], Some(&body)).await?, 200)?;
    Ok(Redeemed {
        points: answer["points"].as_u64().unwrap_or(0),
        txn_no: answer["txn_no"].as_str().unwrap_or_default().to_owned(),
        replayed: answer["replayed"].as_bool().unwrap_or(false),
    })
}

/// Percent-encodes what is not an unreserved URL character.
fn url_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_names_are_percent_encoded_in_the_query() {
        assert_eq!(url_component("loadtest-ab12-3"), "loadtest-ab12-3");
        assert_eq!(url_component("a b&c"), "a%20b%26c");
    }

    #[test]
    fn busy_and_lost_connections_are_worth_resending_refusals_are_not() {
        assert!(ApiError::Refused { status: 503, code: "busy".into() }.is_transient());
        assert!(ApiError::Http(HttpError::Closed).is_transient());
        assert!(ApiError::Refused { status: 409, code: "idempotency-key-in-progress".into() }.is_transient());
        assert!(!ApiError::Refused { status: 409, code: "coupon-used".into() }.is_transient());
    }
}
