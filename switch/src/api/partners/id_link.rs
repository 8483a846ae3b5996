//! ID-link exchange files over HTTP (F84, F85): the partner uploads its exchange-request file
//! (交換依頼ファイル), follows its processing, and downloads the processing-result file
//! (交換結果ファイル). Layout and error codes: `ID_LINK_FILES.md` beside this file.
//!
//! The upload streams to the spool while its SHA-256 and its encoding are worked out, so a
//! file is never held in memory whole; it is kept under a name made of the partner and that
//! hash, and the store records it (the same file of the same partner is the same upload, so
//! it is never applied twice). The ID-link worker (`crate::id_link`) does the rest.

use std::fs::File;
use std::io::Write;

use actix_web::error::PayloadError;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType, CONTENT_LENGTH};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::partners::{PartnerRecord, UploadRecord, UploadStatus};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::{claim, idempotency_key};
use crate::api::auth::{blocking, hex};
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;
use crate::id_link::encoding::{FileEncoding, Utf8Check};
use crate::id_link::results::{Download, DownloadReader};
use crate::id_link::Spool;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(upload_id_link_file)
        .service(list_id_link_files)
        .service(id_link_file_status)
        .service(id_link_file_result);
}

/// Bytes per chunk of a result download.
const DOWNLOAD_CHUNK: usize = 256 * 1024;

#[derive(Deserialize, IntoParams)]
pub struct UploadQuery {
    /// `utf-8` or `shift_jis`. Without it: UTF-8 if the whole file is valid UTF-8 (a BOM is
    /// allowed), otherwise Shift_JIS.
    encoding: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct ResultQuery {
    /// `utf-8` (default, with BOM) or `shift_jis`.
    encoding: Option<String>,
}

/// An upload and how far its processing got.
#[derive(Serialize, ToSchema)]
pub struct UploadView {
    upload_id: u64,
    /// `processing` (waiting, under way, or interrupted and resuming) or `done`.
    status: UploadStatus,
    /// `utf-8` or `shift_jis`: how the file is read.
    encoding: String,
    bytes: u64,
    /// SHA-256 of the file (hex): the same file again is this upload again.
    sha256: String,
    /// Lines of the file processed, as of the last checkpoint (every 10,000 lines by
    /// default), including a heading and blank lines.
    lines_done: u64,
    /// Lines credited (結果 OK).
    applied: u64,
    /// Lines refused (結果 NG), each with its error code in the result file.
    errors: u64,
    created_at_ms: u64,
    finished_at_ms: Option<u64>,
    /// The result file (交換結果ファイル), once `status` is `done`.
    result_url: String,
}

impl From<UploadRecord> for UploadView {
    fn from(u: UploadRecord) -> Self {
        UploadView {
            result_url: format!("/api/v1/partner/id-link-files/{}/result", u.upload_id),
            upload_id: u.upload_id,
            status: u.status,
            encoding: u.encoding,
            bytes: u.bytes,
            sha256: u.sha256,
            lines_done: u.lines_done,
            applied: u.applied,
            errors: u.errors,
            created_at_ms: u.created_at_ms,
            finished_at_ms: u.finished_at_ms,
        }
    }
}

fn encoding_param(name: Option<&str>) -> Result<Option<FileEncoding>, Problem> {
    name.map(|n| {
        FileEncoding::parse(n)
            .ok_or_else(|| Problem::field("encoding", "unknown", "encoding は utf-8 または shift_jis です"))
    })
    .transpose()
}

fn too_large(max: u64) -> Problem {
    Problem::of(ProblemCode::FileTooLarge).detail(format!("at most {max} bytes"))
}

/// A partner that may upload ID-link files and names its customers by an ID-issuing business.
async fn id_link_partner(state: &ApiState, req: &HttpRequest) -> Result<(PartnerRecord, String), Problem> {
    let partner = state.partner(req).await?;
    let issuer = upload_allowed(&partner)?;
    Ok((partner, issuer))
}

/// The ID-issuing business whose service IDs name `partner`'s customers, when it may upload
/// ID-link files.
pub fn upload_allowed(partner: &PartnerRecord) -> Result<String, Problem> {
    super::allowed(partner, |a| a.id_link, "ID-link files")?;
    partner
        .details
        .id_issuer_id
        .clone()
        .ok_or_else(|| Problem::forbidden("no ID-issuing business is registered for this partner"))
}

/// An upload streaming into the spool; removed when dropped before it is kept (refused, or
/// the client went away mid-upload).
struct Incoming {
    path: std::path::PathBuf,
    kept: bool,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What streaming the body in found.
struct Received {
    incoming: Incoming,
    sha256: String,
    bytes: u64,
    utf8: Utf8Check,
}

/// Streams the request body to a spool file, hashing it and checking its encoding on the way.
/// Chunk writes go to the page cache; the one fsync runs off the HTTP worker.
async fn receive(
    spool: &Spool,
    body: &mut (impl Stream<Item = Result<web::Bytes, PayloadError>> + Unpin),
    max: u64,
) -> Result<Received, Problem> {
    let store_failed = |e: std::io::Error| {
        tracing::error!(error = %e, "ID-link spool write failed");
        Problem::unavailable("the upload could not be stored")
    };
    spool.create().map_err(store_failed)?;
    let incoming = Incoming { path: spool.incoming(), kept: false };
    let mut file = File::create(&incoming.path).map_err(store_failed)?;
    let (mut hash, mut utf8, mut bytes) = (Sha256::new(), Utf8Check::default(), 0u64);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| crate::api::problem::payload_problem(&e))?;
        bytes += chunk.len() as u64;
        if bytes > max {
            return Err(too_large(max));
        }
        hash.update(&chunk);
        utf8.feed(&chunk);
        file.write_all(&chunk).map_err(store_failed)?;
    }
    if bytes == 0 {
        return Err(Problem::field("file", "empty", "ファイルが空です"));
    }
    blocking(move || file.sync_all()).await?.map_err(store_failed)?;
    Ok(Received { incoming, sha256: hex(&hash.finalize()), bytes, utf8 })
}

/// Uploads an exchange-request file (交換依頼ファイル, CSV: `customer_id,points,destination`
/// per line) for processing. The same file again from the same partner answers the same
/// upload and applies nothing twice. `Idempotency-Key` is required.
#[utoipa::path(
    params(UploadQuery, ("Idempotency-Key" = String, Header, description = "1–64 visible ASCII characters")),
    request_body(content = Vec<u8>, description = "The exchange-request file, CSV in UTF-8 or Shift_JIS",
                 content_type = "text/csv"),
    responses(
        (status = 202, body = UploadView, description = "stored; processing runs in the background"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 413, body = Problem, description = "larger than partners.id_link_file_max_bytes; nothing kept"),
        (status = 422, body = Problem, description = "empty file, unknown encoding, or the Idempotency-Key was \
                                                      used for another request"),
        (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/partner/id-link-files")]
pub async fn upload_id_link_file(
    state: web::Data<ApiState>,
    req: HttpRequest,
    query: web::Query<UploadQuery>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let answer = receive_upload(state, req, query, body).await;
    let result = match &answer {
        Ok(_) => "accepted".to_owned(),
        Err(problem) => problem.code.clone(),
    };
    metrics::counter!("switch_id_link_uploads_total", "result" => result).increment(1);
    answer
}

async fn receive_upload(
    state: web::Data<ApiState>,
    req: HttpRequest,
    query: web::Query<UploadQuery>,
    mut body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (partner, _) = id_link_partner(&state, &req).await?;
    let key = idempotency_key(&req)?;
    let explicit = encoding_param(query.encoding.as_deref())?;
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let upload = upload_for(&state, &partner, &key, explicit, declared, &mut body).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(UploadView::from(upload)))
}

/// Stores an exchange-request file of `partner` arriving as `body` (of `declared` bytes, if
/// known) under the Idempotency-Key `key` and queues it, for the API and the admin page alike.
pub async fn upload_for(
    state: &ApiState,
    partner: &PartnerRecord,
    key: &str,
    explicit: Option<FileEncoding>,
    declared: Option<u64>,
    body: &mut (impl Stream<Item = Result<web::Bytes, PayloadError>> + Unpin),
) -> Result<UploadRecord, Problem> {
    upload_allowed(partner)?;
    let max = state.partner_settings.id_link_file_max_bytes;
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let spool = Spool::new(state.partner_settings.spool_dir.clone());
    let mut received = receive(&spool, body, max).await?;
    let asked_encoding = explicit.map_or("detect", FileEncoding::as_str);
    let request = format!("{}\n{asked_encoding}", received.sha256);
    claim(state, partner, key, "id-link-upload", request.as_bytes()).await?;
    let encoding = explicit.unwrap_or_else(|| received.utf8.detected());

    let stored =
        spool.request_file(partner.partner_id, &received.sha256).map_err(|e| Problem::unavailable(e.to_string()))?;
    let incoming = received.incoming.path.clone();
    blocking(move || spool.keep(&incoming, &stored)).await?.map_err(|e| {
        tracing::error!(error = %e, "keeping an ID-link upload failed");
        Problem::unavailable("the upload could not be stored")
    })?;
    received.incoming.kept = true;
    let upload = state
        .partners
        .create_upload(partner.partner_id, received.sha256, encoding.as_str().to_owned(), received.bytes, state.now())
        .await?;
    state.id_link_wakeup.wake();
    Ok(upload)
}

/// The partner's uploads, oldest first.
#[utoipa::path(
    responses(
        (status = 200, body = Vec<UploadView>), (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/partner/id-link-files")]
pub async fn list_id_link_files(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let (partner, _) = id_link_partner(&state, &req).await?;
    let uploads: Vec<UploadView> =
        state.partners.uploads_of(partner.partner_id).await?.into_iter().map(UploadView::from).collect();
    Ok(HttpResponse::Ok().json(uploads))
}

/// One of the partner's uploads; another partner's is not found.
async fn own_upload(state: &ApiState, req: &HttpRequest, upload_id: u64) -> Result<UploadRecord, Problem> {
    let (partner, _) = id_link_partner(state, req).await?;
    own_upload_of(state, &partner, upload_id).await
}

/// One of `partner`'s uploads; another partner's is not found.
pub async fn own_upload_of(state: &ApiState, partner: &PartnerRecord, upload_id: u64) -> Result<UploadRecord, Problem> {
    upload_allowed(partner)?;
    match state.partners.upload(upload_id).await? {
        Some(u) if u.partner_id == partner.partner_id => Ok(u),
        _ => Err(Problem::not_found("upload")),
    }
}

/// How far an upload's processing got.
#[utoipa::path(
    params(("upload_id" = u64, Path, description = "upload id")),
    responses(
        (status = 200, body = UploadView), (status = 404, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/partner/id-link-files/{upload_id}")]
pub async fn id_link_file_status(
    state: web::Data<ApiState>,
    req: HttpRequest,
    upload_id: web::Path<u64>,
) -> Result<HttpResponse, Problem> {
    let upload = own_upload(&state, &req, upload_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(UploadView::from(upload)))
}

/// The processing-result file (交換結果ファイル): a heading, then one row per request line —
/// `行番号,顧客ID,ポイント数,交換先コード,結果,エラーコード,取引済番号` — UTF-8 with BOM, or
/// Shift_JIS with `?encoding=shift_jis`. 409 while the upload is still processing.
#[utoipa::path(
    params(("upload_id" = u64, Path, description = "upload id"), ResultQuery),
    responses(
        (status = 200, content_type = "text/csv", body = String, description = "the result file"),
        (status = 409, body = Problem, description = "still processing"),
        (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 400, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/partner/id-link-files/{upload_id}/result")]
pub async fn id_link_file_result(
    state: web::Data<ApiState>,
    req: HttpRequest,
    upload_id: web::Path<u64>,
    query: web::Query<ResultQuery>,
) -> Result<HttpResponse, Problem> {
    let upload = own_upload(&state, &req, upload_id.into_inner()).await?;
    result_download(&state, &upload, query.encoding.as_deref()).await
}

/// The result file of `upload` in the encoding asked for (`shift_jis`, else UTF-8 with BOM),
/// streamed, for the API and the admin page alike; 409 while it is processing.
pub async fn result_download(
    state: &ApiState,
    upload: &UploadRecord,
    encoding: Option<&str>,
) -> Result<HttpResponse, Problem> {
    let encoding = match encoding_param(encoding)? {
        Some(FileEncoding::ShiftJis) => Download::ShiftJis,
        _ => Download::Utf8Bom,
    };
    if upload.status != UploadStatus::Done {
        return Err(Problem::of(ProblemCode::UploadProcessing).detail(format!("{} lines done", upload.lines_done)));
    }
    let upload_id = upload.upload_id;
    let path = Spool::new(state.partner_settings.spool_dir.clone()).result_file(upload_id);
    let opened = blocking(move || {
        Ok::<_, std::io::Error>((DownloadReader::open(&path, encoding)?, std::fs::metadata(&path)?.len()))
    });
    let (reader, stored_len) = opened.await?.map_err(|e| {
        tracing::error!(upload = upload_id, error = %e, "ID-link result file unreadable");
        Problem::unavailable("the result file could not be read")
    })?;
    let chunks = futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        match web::block(move || reader.next_chunk(DOWNLOAD_CHUNK).map(|chunk| (chunk, reader))).await {
            Ok(Ok((chunk, _))) if chunk.is_empty() => None,
            Ok(Ok((chunk, reader))) => Some((Ok(web::Bytes::from(chunk)), Some(reader))),
            Ok(Err(e)) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
            Err(e) => Some((Err(actix_web::Error::from(e)), None)),
        }
    });
    let (charset, suffix) = match encoding {
        Download::Utf8Bom => ("utf-8", "utf8"),
        Download::ShiftJis => ("Shift_JIS", "sjis"),
    };
    let mut answer = HttpResponse::Ok();
    answer.content_type(format!("text/csv; charset={charset}")).insert_header(ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(format!("id-link-result-{}-{suffix}.csv", upload.upload_id))],
    });
    if encoding == Download::Utf8Bom {
        // The stored file plus the BOM: the length is known, so no chunked encoding.
        answer.no_chunking(stored_len + 3);
    }
    Ok(answer.streaming(chunks))
}
