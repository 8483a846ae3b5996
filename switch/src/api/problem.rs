//! Errors of the HTTP API as problem documents (RFC 9457, `application/problem+json`): a stable
//! `code` programs branch on, a Japanese `title` people read, and for a form every wrong field.
//! This is the one place that turns a refusal into an HTTP answer.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use actors::registration::FieldError;
use actors::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// A refusal or failure, as the API answers it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:mykey-switch:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short Japanese summary for the person at the screen.
    pub title: String,
    pub status: u16,
    /// Stable code for programs (`validation`, `mykey-taken`, ...).
    pub code: String,
    /// More about this occurrence, when there is more to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every wrong field of a form (code `validation`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before trying again (throttled logins, busy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, title: &str) -> Problem {
        Problem {
            problem_type: format!("urn:mykey-switch:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: None,
            errors: Vec::new(),
            retry_after_s: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    pub fn validation(errors: Vec<FieldError>) -> Problem {
        let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "入力内容に誤りがあります");
        p.errors = errors;
        p
    }

    /// One wrong field.
    pub fn field(field: &str, code: &'static str, message: impl Into<String>) -> Problem {
        Problem::validation(vec![FieldError::new(field, code, message)])
    }

    pub fn unauthorized() -> Problem {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "ログインしてください")
    }

    pub fn forbidden(detail: &str) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "この操作は許可されていません").detail(detail)
    }

    pub fn not_found(what: &str) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "見つかりません").detail(what)
    }

    pub fn conflict(code: &str, title: &str) -> Problem {
        Problem::new(StatusCode::CONFLICT, code, title)
    }

    pub fn throttled(retry_after_s: u64) -> Problem {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "login-throttled",
            "ログインの失敗が続いたため、しばらくお待ちください",
        );
        p.retry_after_s = Some(retry_after_s);
        p
    }

    pub fn bad_body(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "malformed-body", "リクエストの形式が不正です").detail(detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "temporary-failure", "一時的な障害です。再度お試しください")
            .detail(detail)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.code)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        if let Some(s) = self.retry_after_s {
            response.insert_header(("Retry-After", s.to_string()));
        }
        response.json(self)
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        tracing::warn!(error = %e, "store call of the HTTP API failed");
        match e {
            StoreError::Unavailable(_) => Problem::unavailable("the store did not answer"),
            StoreError::Corrupt(_) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "システムエラーです"),
        }
    }
}

impl From<actors::SwitchError> for Problem {
    fn from(e: actors::SwitchError) -> Problem {
        use actors::SwitchError as E;
        match e {
            E::MyKeyRevoked => Problem::conflict("mykey-revoked", "マイキーIDは失効しています"),
            E::UnknownMyKeyId => Problem::not_found("MyKey ID"),
            E::UnknownDestination => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-destination",
                "自治体ポイントまたは特定支援イベントが登録されていません",
            ),
            E::EventEnded => Problem::conflict("event-ended", "特定支援イベントの実施期間外です"),
            E::InsufficientPoints { usable } => {
                Problem::conflict("insufficient-points", "ポイント残高が不足しています")
                    .detail(format!("usable: {usable}"))
            }
            E::InvalidAmount { max } => Problem::field("points", "range", format!("ポイント数は1から{max}までです")),
            E::IdempotencyConflict => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "このIdempotency-Keyは別のリクエストで使用済みです",
            ),
            E::UnknownTransaction => Problem::not_found("transaction"),
            E::AlreadyVoided => Problem::conflict("already-cancelled", "この取引は取消済みです"),
            E::Busy => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "混雑しています。再度お試しください"),
            E::TemporaryFailure => Problem::unavailable("try again"),
            other => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "システムエラーです")
                .detail(other.to_string()),
        }
    }
}

/// Body errors (bad JSON, wrong types, too large) as problem documents, for `JsonConfig`.
pub fn json_error(err: actix_web::error::JsonPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    Problem::bad_body(err.to_string()).into()
}

/// Path parameters that do not parse.
pub fn path_error(err: actix_web::error::PathError, _: &actix_web::HttpRequest) -> actix_web::Error {
    Problem::bad_body(err.to_string()).into()
}

/// Query strings that do not parse.
pub fn query_error(err: actix_web::error::QueryPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    Problem::bad_body(err.to_string()).into()
}
