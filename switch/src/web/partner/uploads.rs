//! 自治体ポイント交換依頼ファイルアップロード画面 and 自治体ポイント交換結果ファイルダウンロード画面
//! (F85): the exchange-request file chosen in a form (`multipart/form-data`, read whole within
//! [`UPLOAD_FORM_MAX_BYTES`]; larger files go through the API, which streams), handed to
//! `api::partners::id_link::upload_for` as the API hands its body; the partner's uploads with
//! how far each got, and each result file once done, through the API's own download.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use actors::partners::{UploadRecord, UploadStatus};
use actors::registration::FieldError;
use maud::html;
use serde::Deserialize;

use super::{form_key, partner_path, Opened};
use crate::api::partners::id_link::{own_upload_of, result_download, upload_allowed, upload_for};
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::id_link::encoding::FileEncoding;
use crate::web::console::multipart;
use crate::web::layout::{points, problem_banner};

/// The largest exchange-request file the form takes (read whole into memory); the API takes
/// files up to `partners.id_link_file_max_bytes`, streamed.
pub const UPLOAD_FORM_MAX_BYTES: usize = 32 * 1024 * 1024;

/// The encodings offered, as (form value, label); "detect" leaves it to the file.
const ENCODINGS: &[(&str, &str)] = &[("detect", "自動判定"), ("utf-8", "UTF-8"), ("shift_jis", "Shift_JIS")];

async fn open(state: &ApiState, req: &HttpRequest, partner_id: &str) -> Result<Opened, HttpResponse> {
    let opened = Opened::new(state, req, partner_id).await?;
    upload_allowed(&opened.partner).map_err(|p| opened.refusal(&p))?;
    Ok(opened)
}

/// The upload form and the partner's uploads, newest first.
#[get("/partner/p/{partner_id}/uploads")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest, partner_id: web::Path<String>) -> HttpResponse {
    let opened = match open(&state, &req, &partner_id).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    screen(&state, &opened, None, None, StatusCode::OK).await
}

async fn screen(
    state: &ApiState,
    opened: &Opened,
    done: Option<&UploadRecord>,
    problem: Option<&Problem>,
    status: StatusCode,
) -> HttpResponse {
    let id = opened.partner.partner_id;
    let mut uploads = match state.partners.uploads_of(id).await {
        Ok(u) => u,
        Err(e) => return opened.refusal(&Problem::from(e)),
    };
    uploads.reverse();
    let file_error = problem.and_then(|p| p.errors.iter().find(|e| e.field == "file"));
    let body = html! {
        @if let Some(u) = done {
            div.alert.ok role="status" #done data-upload=(u.upload_id) {
                "交換依頼ファイルを受け付けました（受付番号 " (u.upload_id) "）。処理の結果は下の一覧に表示されます。"
            }
        }
        @if let Some(p) = problem { (problem_banner(p)) }
        section.card {
            h2 { "交換依頼ファイルのアップロード" }
            form.stack #upload-form method="post" action=(partner_path(id, "/uploads")) enctype="multipart/form-data" novalidate {
                input type="hidden" name="csrf" value=(opened.staff.csrf);
                input type="hidden" name="key" value=(form_key());
                label for="file" { "交換依頼ファイル（CSV）" }
                input type="file" id="file" name="file" accept=".csv,text/csv" required
                    aria-invalid=[file_error.map(|_| "true")];
                @if let Some(e) = file_error { p.field-error #file-error { (e.message) } }
                label for="encoding" { "文字コード" }
                select id="encoding" name="encoding" {
                    @for (value, label) in ENCODINGS { option value=(value) { (label) } }
                }
                p.muted { "1行に「顧客ID,ポイント数,交換先コード」。同じファイルをもう一度送っても、二重に交換されることはありません。" }
                div.actions { button type="submit" #upload { "アップロード" } }
            }
        }
        h2 { "交換結果ファイルのダウンロード" }
        @if uploads.is_empty() {
            p.muted { "まだアップロードはありません。" }
        } @else {
            div.scroll {
                table #uploads {
                    thead { tr { th { "受付番号" } th { "受付日時" } th { "状態" } th.num { "処理行数" } th.num { "OK" } th.num { "NG" } th { "交換結果ファイル" } } }
                    tbody {
                        @for u in &uploads {
                            tr data-upload=(u.upload_id) data-status=(if u.status == UploadStatus::Done { "done" } else { "processing" }) {
                                td { (u.upload_id) }
                                td { (format_jst(u.created_at_ms)) }
                                td { @if u.status == UploadStatus::Done { "処理完了" } @else { "処理中" } }
                                td.num { (points(u.lines_done)) }
                                td.num { (points(u.applied)) }
                                td.num { (points(u.errors)) }
                                td {
                                    @if u.status == UploadStatus::Done {
                                        a.result href=(partner_path(id, &format!("/uploads/{}/result", u.upload_id))) { "UTF-8" } " "
                                        a href=(partner_path(id, &format!("/uploads/{}/result?encoding=shift_jis", u.upload_id))) { "Shift_JIS" }
                                    } @else {
                                        span.muted { "処理が終わるとダウンロードできます" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    opened.respond("自治体ポイント交換依頼ファイルアップロード", &partner_path(id, "/uploads"), status, body)
}

/// 「アップロード」: the file stored and queued as the API's upload is.
#[post("/partner/p/{partner_id}/uploads")]
pub async fn upload_file(
    state: web::Data<ApiState>,
    req: HttpRequest,
    partner_id: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let opened = match open(&state, &req, &partner_id).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let outcome = async {
        let body = crate::api::read_body(body, UPLOAD_FORM_MAX_BYTES).await?;
        let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let parts = match multipart::boundary(content_type).map(|b| multipart::parts(&body, &b)) {
            Some(Ok(parts)) => parts,
            _ => return Err(Problem::field("file", "malformed", "フォームの送信形式が正しくありません")),
        };
        let text = |name: &str| {
            parts
                .iter()
                .find(|p| p.name == name)
                .map(|p| String::from_utf8_lossy(p.body).into_owned())
                .unwrap_or_default()
        };
        opened.check_post(&req, &text("csrf"))?;
        let encoding = match text("encoding").as_str() {
            "" | "detect" => None,
            name => Some(FileEncoding::parse(name).ok_or_else(|| {
                Problem::field("encoding", "unknown", "文字コードは UTF-8 か Shift_JIS を選んでください")
            })?),
        };
        let Some(file) = parts.iter().find(|p| p.name == "file" && !p.body.is_empty()) else {
            return Err(Problem::validation(vec![FieldError::new(
                "file",
                "required",
                "交換依頼ファイルを選んでください",
            )]));
        };
        let key = text("key");
        let chunk = web::Bytes::copy_from_slice(file.body);
        let mut stream = futures::stream::iter([Ok::<_, actix_web::error::PayloadError>(chunk)]);
        upload_for(&state, &opened.partner, &key, encoding, Some(file.body.len() as u64), &mut stream).await
    };
    match outcome.await {
        Ok(record) => screen(&state, &opened, Some(&record), None, StatusCode::ACCEPTED).await,
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            screen(&state, &opened, None, Some(&p), status).await
        }
    }
}

#[derive(Deserialize)]
pub struct ResultQuery {
    encoding: Option<String>,
}

/// 交換結果ファイル: the API's own download of one of this partner's uploads.
#[get("/partner/p/{partner_id}/uploads/{upload_id}/result")]
pub async fn result(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<ResultQuery>,
) -> HttpResponse {
    let (partner_id, upload_id) = path.into_inner();
    let opened = match open(&state, &req, &partner_id).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let download = async {
        let upload_id = upload_id.parse().map_err(|_| Problem::not_found("upload"))?;
        let upload = own_upload_of(&state, &opened.partner, upload_id).await?;
        result_download(&state, &upload, query.encoding.as_deref()).await
    };
    match download.await {
        Ok(answer) => answer,
        Err(p) => opened.refusal(&p),
    }
}
