//! 応援ポイント会社用管理ページ (F76): the admin page of a partner's staff, logged in with a
//! login id and password of their own (not the partner's API key). Each screen calls the same
//! functions as the partner API (`crate::api::partners`), with the partner the login belongs to
//! and its abilities, so every rule and every refusal is the API's.
//!
//! - 画面 login and logout are `web::login`'s, with [`LOGIN`]'s words.
//! - [`uploads`]: 自治体ポイント交換依頼ファイルアップロード画面 and 交換結果ファイルダウンロード画面
//!   (F85).
//! - [`coupons`]: 自治体ポイントクーポンコード一括払い出し画面 (F77) and the issuances made.
//! - [`shop`]: ポイント利用 and 取消 of an online shop (F87, F88).
//!
//! A partner's screens live under `/partner/p/{partner_id}`: another partner's are 403.

pub mod coupons;
pub mod shop;
pub mod uploads;

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use actors::partners::{Abilities, PartnerRecord};
use maud::html;

use super::layout::{self, problem_banner, MenuItem, Page, Who};
use super::login::{self, Door, Screen};
use super::session::{self, Console};
use crate::api::auth::{hex, Principal};
use crate::api::problem::Problem;
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    login::routes(&LOGIN, cfg);
    cfg.service(home)
        .service(show_menu)
        .service(uploads::show)
        .service(uploads::upload_file)
        .service(uploads::result)
        .service(coupons::show)
        .service(coupons::issue)
        .service(coupons::download)
        .service(shop::show)
        .service(shop::debit)
        .service(shop::cancel);
}

pub const BRAND: &str = "応援ポイント会社用管理ページ";
pub const LOGIN_PATH: &str = "/partner/login";
pub const LOGOUT_PATH: &str = "/partner/logout";
pub const HOME_PATH: &str = "/partner";

/// The partner staff's login (F76).
pub const LOGIN: Screen = Screen {
    door: Door::PartnerStaff,
    console: Console::Partner,
    brand: BRAND,
    title: "ログイン",
    login_path: LOGIN_PATH,
    logout_path: LOGOUT_PATH,
    home_path: HOME_PATH,
    id_name: "login_id",
    id_label: "ログインID",
    id_missing: "ログインIDを入力してください",
    id_maxlength: None,
    id_hint: None,
    note: Some("自治体ポイント管理クラウドから発行された管理ページのログインID・パスワードを入力してください。"),
};

/// The paths of one partner's screens.
pub fn partner_path(partner_id: u32, rest: &str) -> String {
    format!("/partner/p/{partner_id}{rest}")
}

/// The menu: the screens this partner's abilities open, in the manual's order.
pub fn menu_of(partner_id: u32, abilities: &Abilities) -> Vec<MenuItem> {
    let mut items = vec![MenuItem { href: Cow::Owned(partner_path(partner_id, "")), label: "メニュー" }];
    if abilities.id_link {
        items.push(MenuItem {
            href: Cow::Owned(partner_path(partner_id, "/uploads")),
            label: "自治体ポイント交換依頼ファイルアップロード",
        });
    }
    if abilities.coupons {
        items.push(MenuItem {
            href: Cow::Owned(partner_path(partner_id, "/coupons")),
            label: "自治体ポイントクーポンコード一括払い出し",
        });
    }
    if abilities.shop {
        items.push(MenuItem {
            href: Cow::Owned(partner_path(partner_id, "/debits")), label: "ポイント利用・取消"
        });
    }
    items
}

/// The partner staff member at the browser.
pub struct PartnerStaff {
    pub login_id: String,
    pub partner_id: u32,
    pub token: String,
    pub csrf: String,
}

/// A screen of the partner the path names, opened by its own staff.
pub struct Opened {
    pub staff: PartnerStaff,
    pub partner: PartnerRecord,
}

impl PartnerStaff {
    /// The partner staff member the request's cookie names, or the redirect to the login
    /// (coming back to the same screen afterwards).
    pub fn from_request(state: &ApiState, req: &HttpRequest) -> Result<PartnerStaff, HttpResponse> {
        let back = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(HOME_PATH).to_owned();
        let to_login = || {
            let location = format!("{LOGIN_PATH}?next={}", super::mypage::percent_encode(&back));
            layout::see_other(&location).finish()
        };
        let token = session::session_token(req, Console::Partner).ok_or_else(to_login)?;
        match state.sessions.principal(&token, state.now()) {
            Some(Principal::PartnerStaff { login_id, partner_id }) => {
                Ok(PartnerStaff { login_id, partner_id, csrf: session::csrf_for_session(&token), token })
            }
            _ => Err(to_login()),
        }
    }
}

impl Opened {
    /// The screen of partner `partner_id` for the staff member at the browser: only their own
    /// partner's (another's is 403, whether it exists or not).
    pub async fn new(state: &ApiState, req: &HttpRequest, partner_id: &str) -> Result<Opened, HttpResponse> {
        let staff = PartnerStaff::from_request(state, req)?;
        if partner_id.parse::<u32>().ok() != Some(staff.partner_id) {
            let refused = Problem::forbidden("partner staff see only their own partner's screens");
            return Err(bare_refusal(&staff, &refused));
        }
        match state.partners.partner(staff.partner_id).await {
            Ok(Some(partner)) => Ok(Opened { staff, partner }),
            Ok(None) => Err(bare_refusal(&staff, &Problem::forbidden("the partner is no longer registered"))),
            Err(e) => Err(bare_refusal(&staff, &Problem::from(e))),
        }
    }

    /// Refused unless the partner is set up for `what` (the API's own check).
    pub fn allowed(&self, ability: impl Fn(&Abilities) -> bool, what: &str) -> Result<(), HttpResponse> {
        crate::api::partners::allowed(&self.partner, ability, what).map_err(|p| self.refusal(&p))
    }

    /// A whole screen in the partner's frame.
    pub fn respond(&self, title: &str, current: &str, status: StatusCode, body: maud::Markup) -> HttpResponse {
        let menu = menu_of(self.partner.partner_id, &self.partner.details.abilities);
        let who = format!("{}（{}）", self.staff.login_id, self.partner.details.name);
        let page = Page {
            brand: BRAND,
            title,
            who: Some(Who { name: &who, logout_action: LOGOUT_PATH, csrf: &self.staff.csrf }),
            menu: &menu,
            current,
        };
        layout::respond(status, page.render(body))
    }

    /// A refusal drawn as a page with the API's status, title and every wrong field.
    pub fn refusal(&self, problem: &Problem) -> HttpResponse {
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self.respond("エラー", "", status, problem_banner(problem))
    }

    /// The form post's CSRF token is this session's.
    pub fn check_post(&self, req: &HttpRequest, form_token: &str) -> Result<(), Problem> {
        session::check_session_post(req, &self.staff.token, form_token).map_err(|_| session::expired_form())
    }
}

/// A refusal before the partner is known: the frame without a menu.
fn bare_refusal(staff: &PartnerStaff, problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let page = Page {
        brand: BRAND,
        title: "エラー",
        who: Some(Who { name: &staff.login_id, logout_action: LOGOUT_PATH, csrf: &staff.csrf }),
        menu: &[],
        current: "",
    };
    layout::respond(status, page.render(problem_banner(problem)))
}

/// A fresh Idempotency-Key for one form: posting the same form twice (a double click, a
/// reload) is answered from the first post, as the API answers a retry.
pub fn form_key() -> String {
    format!("web-{}", hex(&rand::random::<[u8; 16]>()))
}

/// The top: staff go to their partner's menu.
#[get("/partner")]
pub async fn home(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    match PartnerStaff::from_request(&state, &req) {
        Ok(staff) => layout::see_other(&partner_path(staff.partner_id, "")).finish(),
        Err(to_login) => to_login,
    }
}

/// メニュー: what this partner may do here.
#[get("/partner/p/{partner_id}")]
pub async fn show_menu(state: web::Data<ApiState>, req: HttpRequest, partner_id: web::Path<String>) -> HttpResponse {
    let opened = match Opened::new(&state, &req, &partner_id).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let items = menu_of(opened.partner.partner_id, &opened.partner.details.abilities);
    let body = html! {
        p { (opened.partner.details.name) " の管理ページです。" }
        @if items.len() == 1 {
            p.muted { "この応援ポイント会社で使える画面はありません。" }
        }
        ul.menu-buttons #menu {
            @for item in items.iter().skip(1) { li { a.button.secondary href=(item.href) { (item.label) } } }
        }
    };
    opened.respond("メニュー", &partner_path(opened.partner.partner_id, ""), StatusCode::OK, body)
}
