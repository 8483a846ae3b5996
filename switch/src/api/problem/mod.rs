//! Errors of the HTTP API as problem documents (RFC 9457, `application/problem+json`): a stable
//! `code` programs branch on, a Japanese `title` people read, and for a form every wrong field.
//! This is the one place that turns a refusal into an HTTP answer; the codes, their statuses
//! and titles are one table in [`code`].

mod code;

pub use code::ProblemCode;

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
    /// The problem document of a code: its status and title from [`ProblemCode`]'s table.
    pub fn of(code: ProblemCode) -> Problem {
        Problem {
            problem_type: format!("urn:mykey-switch:problem:{}", code.as_str()),
            title: code.title().to_owned(),
            status: code.status().as_u16(),
            code: code.as_str().to_owned(),
            detail: None,
            errors: Vec::new(),
            retry_after_s: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    /// Seconds to wait before trying again (also sent as `Retry-After`).
    pub fn retry_after(mut self, seconds: u64) -> Problem {
        self.retry_after_s = Some(seconds);
        self
    }

    pub fn validation(errors: Vec<FieldError>) -> Problem {
        let mut p = Problem::of(ProblemCode::Validation);
        p.errors = errors;
        p
    }

    /// One wrong field.
    pub fn field(field: &str, code: &'static str, message: impl Into<String>) -> Problem {
        Problem::validation(vec![FieldError::new(field, code, message)])
    }

    pub fn unauthorized() -> Problem {
        Problem::of(ProblemCode::Unauthorized)
    }

    pub fn forbidden(detail: &str) -> Problem {
        Problem::of(ProblemCode::Forbidden).detail(detail)
    }

    pub fn not_found(what: &str) -> Problem {
        Problem::of(ProblemCode::NotFound).detail(what)
    }

    pub fn throttled(retry_after_s: u64) -> Problem {
        Problem::of(ProblemCode::LoginThrottled).retry_after(retry_after_s)
    }

    pub fn bad_body(detail: impl Into<String>) -> Problem {
        Problem::of(ProblemCode::MalformedBody).detail(detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::of(ProblemCode::TemporaryFailure).detail(detail)
    }
}

impl From<ProblemCode> for Problem {
    fn from(code: ProblemCode) -> Problem {
        Problem::of(code)
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
        metrics::counter!("switch_store_errors_total", "kind" => e.kind()).increment(1);
        match e {
            StoreError::Unavailable(_) => Problem::unavailable("the store did not answer"),
            StoreError::Corrupt(_) => Problem::of(ProblemCode::Internal),
            StoreError::OutcomeUnknown(_) => Problem::of(ProblemCode::OutcomeUnknown),
        }
    }
}

impl From<actors::SwitchError> for Problem {
    fn from(e: actors::SwitchError) -> Problem {
        use actors::SwitchError as E;
        match e {
            E::MyKeyRevoked => Problem::of(ProblemCode::MyKeyRevoked),
            E::UnknownMyKeyId => Problem::not_found("MyKey ID"),
            E::UnknownDestination => Problem::of(ProblemCode::UnknownDestination),
            E::EventEnded => Problem::of(ProblemCode::EventEnded),
            E::InsufficientPoints { usable } => {
                Problem::of(ProblemCode::InsufficientPoints).detail(format!("usable: {usable}"))
            }
            E::InvalidAmount { max } => Problem::field("points", "range", format!("ポイント数は1から{max}までです")),
            E::IdempotencyConflict => Problem::of(ProblemCode::IdempotencyKeyReused),
            E::UnknownTransaction => Problem::not_found("transaction"),
            E::AlreadyVoided => Problem::of(ProblemCode::AlreadyCancelled),
            E::Busy => Problem::of(ProblemCode::Busy),
            E::TemporaryFailure => Problem::unavailable("try again"),
            E::OutcomeUnknown => Problem::of(ProblemCode::OutcomeUnknown),
            E::UnknownTicket => Problem::of(ProblemCode::TicketUnknown),
            E::TicketAlreadyCleared => Problem::of(ProblemCode::TicketCleared),
            E::TicketExpired => Problem::of(ProblemCode::TicketExpired),
            E::TicketReissued => Problem::of(ProblemCode::TicketReissued),
            E::InvalidTicketExpiry { max_days } => Problem::field(
                "expires_on",
                "range",
                format!("有効期限は本日から{max_days}日後までの日付 (yyyymmdd) です"),
            ),
            other => Problem::of(ProblemCode::Internal).detail(other.to_string()),
        }
    }
}

/// A body that could not be read: too slow (`crate::body_guard`'s deadlines), too large, or cut.
pub fn payload_problem(err: &actix_web::error::PayloadError) -> Problem {
    use actix_web::error::PayloadError;
    match err {
        PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => Problem::of(ProblemCode::BodyTimeout),
        PayloadError::Overflow => Problem::of(ProblemCode::BodyTooLarge),
        other => Problem::bad_body(other.to_string()),
    }
}

/// Body errors (bad JSON, wrong types, too large, too slow) as problem documents, for `JsonConfig`.
pub fn json_error(err: actix_web::error::JsonPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    match &err {
        JsonPayloadError::Payload(e) => payload_problem(e).into(),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            Problem::of(ProblemCode::BodyTooLarge).detail(err.to_string()).into()
        }
        _ => Problem::bad_body(err.to_string()).into(),
    }
}

/// Path parameters that do not parse.
pub fn path_error(err: actix_web::error::PathError, _: &actix_web::HttpRequest) -> actix_web::Error {
    Problem::bad_body(err.to_string()).into()
}

/// Query strings that do not parse.
pub fn query_error(err: actix_web::error::QueryPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    Problem::bad_body(err.to_string()).into()
}
