//! Shopping streets' merge files over HTTP (合算, F36–F39): the streets a staff member may act
//! for, and a street's merge file received and applied (checked whole, then each line through
//! the citizen's wallet once; `switch::merge::apply`). MIC and the staff of the street's
//! municipality only.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::registration::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::may_act_for;
use super::problem::{Problem, ProblemCode};
use super::{read_body, ApiState};
use crate::merge::apply::{self, MergeDeps, MergeReport, Rejected};
use crate::merge::file::{FileError, MERGE_FILE_BYTES_MAX};
use crate::merge::street::{Holders, Street, Streets};

/// The merge side of the API: the configured streets and what applying needs.
pub struct MergeSide {
    pub streets: Streets,
    pub deps: MergeDeps,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_streets).service(receive_merge_file);
}

/// A street as staff see it (never its keys).
#[derive(Serialize, ToSchema)]
pub struct StreetJson {
    id: u32,
    name: String,
    /// The municipality whose staff act for the street.
    municipality: String,
    /// The citizens' points a merge takes: `M<code>` or `E<code>`.
    account: String,
    /// What field 1 of the street's lines holds: `mykey_id` (F38) or `service_id` (F37).
    holders: &'static str,
    /// The ID-issuing business of the street's point IDs, when they are service IDs.
    id_issuer: Option<String>,
}

fn street_json(s: &Street) -> StreetJson {
    let (holders, id_issuer) = match &s.holders {
        Holders::MyKeyIds => ("mykey_id", None),
        Holders::ServiceIds { issuer } => ("service_id", Some(issuer.clone())),
    };
    StreetJson {
        id: s.id,
        name: s.name.clone(),
        municipality: s.municipality.to_string(),
        account: s.account.to_string(),
        holders,
        id_issuer,
    }
}

/// The shopping streets the caller may act for (MIC: all).
#[utoipa::path(
    responses((status = 200, body = [StreetJson]), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/merge/streets")]
async fn list_streets(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let role = state.staff(&req)?;
    let streets: Vec<StreetJson> =
        state.merge.streets.iter().filter(|s| may_act_for(&role, &s.municipality).is_ok()).map(street_json).collect();
    Ok(HttpResponse::Ok().json(streets))
}

/// The problem document of a file refused whole.
pub fn rejected_problem(rejected: Rejected) -> Problem {
    match rejected {
        Rejected::File(e) => {
            let code = match e {
                FileError::TooLarge => ProblemCode::MergeFileTooLarge,
                FileError::Truncated(_) => ProblemCode::MergeFileTruncated,
                FileError::Undecryptable => ProblemCode::MergeFileUndecryptable,
                FileError::NotAuthentic => ProblemCode::MergeFileNotAuthentic,
                FileError::NotUtf8 { .. } => ProblemCode::MergeFileEncoding,
                FileError::Empty => ProblemCode::MergeFileEmpty,
                FileError::TooManyLines => ProblemCode::MergeFileTooManyLines,
            };
            Problem::of(code).detail(e.to_string())
        }
        Rejected::Lines(lines) => {
            let count = lines.len();
            let mut problem = Problem::of(ProblemCode::MergeFileBadLines)
                .detail(format!("{count} line(s) are not the street's merges; nothing in the file was applied"));
            problem.errors = lines
                .into_iter()
                .map(|(line, e)| FieldError::new(format!("line {line}"), e.code(), e.to_string()))
                .collect();
            problem
        }
    }
}

/// Receives a street's merge file (v1 or v2, the raw encrypted bytes) and applies it: the whole
/// file is checked first (decryption, authenticity, encoding, layout, every line's hash) and
/// refused whole if any of it is wrong; then each line takes its points from the citizen's
/// account into the street's, once per 取引済番号 whatever file brings it (the same file sent
/// again applies nothing twice). Lines the citizen's wallet refuses are listed; the rest apply.
#[utoipa::path(
    params(("street" = u32, Path, description = "the street's id")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the merge file (MERGE_FILE.md)"),
    responses(
        (status = 200, body = MergeReport),
        (status = 413, body = Problem), (status = 422, body = Problem, description = "refused whole: merge-file-*"),
        (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/merge/streets/{street}/files")]
async fn receive_merge_file(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<u32>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let role = state.staff(&req)?;
    let street =
        state.merge.streets.get(path.into_inner()).ok_or_else(|| Problem::of(ProblemCode::MergeStreetUnknown))?.clone();
    may_act_for(&role, &street.municipality)?;
    let bytes = read_body(body, MERGE_FILE_BYTES_MAX).await.map_err(|p| {
        if p.code == ProblemCode::BodyTooLarge.as_str() {
            rejected_problem(Rejected::File(FileError::TooLarge))
        } else {
            p
        }
    })?;
    // Decryption and a million hashes take a while: off the HTTP worker.
    let checking = street.clone();
    let checked = web::block(move || apply::check(&checking, &bytes))
        .await
        .map_err(|_| Problem::unavailable("worker pool"))?
        .map_err(rejected_problem)?;
    let report = apply::apply(&state.merge.deps, &street, &checked).await;
    tracing::info!(
        street = street.id,
        lines = report.lines,
        applied = report.applied,
        already = report.already_applied,
        refused = report.refused,
        "merge file applied"
    );
    Ok(HttpResponse::Ok().json(report))
}
