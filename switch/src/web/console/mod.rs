//! 自治体ポイント管理クラウド (manual §I): the console of municipality staff and of MIC. Each
//! handler calls the same functions as the JSON API (`crate::api::admin`,
//! `crate::api::terminals`), so who may act for which municipality (`api::acting_for`: MIC every
//! one, a municipality's staff only their own) and every form rule hold alike on both.
//!
//! - 画面2 (the settings login ID MIC distributed) and logout are `web::login`'s, with
//!   [`LOGIN`]'s words.
//! - [`menu`]: 画面3, a municipality's menu; MIC's list of municipalities.
//! - [`point`]: 画面4 自治体ポイント設定.
//! - [`events`]: 画面5-1 特定支援イベント設定 and 画面5-2 ポイント利用先設定.
//! - [`reports`]: 自治体ポイント集計, the settlement reports on screen and as files: 参考86 and
//!   参考84, 参考88 of one installation location, and (MIC) a partner's 参考82.
//! - [`grant_programmes`]: ポイント付与事業登録 (画面63 → 64 → 65) and the programmes' list.
//! - [`grant_roster`]: 画面73 付与事業対象者表示 (search, grant states, 名簿ダウンロード,
//!   ポイント付与 without a card) and 画面71 付与事業対象者名簿取り込み入力.
//! - [`grant_runs`]: a programme's runs over its whole roster and their progress.
//! - [`terminals`]: the terminal list (連絡先情報確認) with its files, and MIC's terminal
//!   issuance (様式I upload → 様式II download).
//! - [`terminal`]: one terminal and what staff do with it: stop and resume it (削除要否),
//!   release its registered device, a new terminal password shown once.
//! - [`fields`]: a posted form's fields (repeated names kept), and dates from date inputs.
//! - [`multipart`]: the upload forms' bodies (`multipart/form-data`: 様式I, a roster), bounded.

pub mod events;
pub mod fields;
pub mod grant_programmes;
pub mod grant_roster;
pub mod grant_runs;
pub mod menu;
pub mod multipart;
pub mod point;
pub mod reports;
pub mod terminal;
pub mod terminals;

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::registry::StaffRole;
use protocol::MunicipalityCode;

use super::layout::{self, problem_banner, MenuItem, Page, Who};
use super::login::{self, Door, Screen};
use super::session::{self, Console};
use crate::api::auth::Principal;
use crate::api::problem::Problem;
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    login::routes(&LOGIN, cfg);
    cfg.service(menu::show)
        .service(menu::choose)
        .service(menu::municipality)
        .service(point::show)
        .service(point::submit)
        .service(events::list)
        .service(events::new_event)
        .service(events::destinations)
        .service(events::register)
        .service(terminals::list)
        .service(terminals::file)
        .service(terminals::issuance_form)
        .service(terminals::issue)
        // After `/terminals/file`: `/terminals/{terminal_id}` would take it.
        .service(terminal::show)
        .service(terminal::retirement)
        .service(terminal::device_reset)
        .service(terminal::new_password)
        .service(reports::show)
        .service(reports::file)
        // `/grants/new` before `/grants/{programme}`: the first registered match wins.
        .service(grant_programmes::list)
        .service(grant_programmes::new_programme)
        .service(grant_programmes::submit)
        .service(grant_roster::show)
        .service(grant_roster::grant)
        .service(grant_roster::file)
        .service(grant_roster::import_form)
        .service(grant_roster::import)
        .service(grant_runs::list)
        .service(grant_runs::start)
        .service(grant_runs::show);
}

pub const BRAND: &str = "自治体ポイント管理クラウド";
pub const LOGIN_PATH: &str = "/console/login";
pub const LOGOUT_PATH: &str = "/console/logout";
pub const HOME_PATH: &str = "/console";

/// 画面2: the settings login ID MIC distributed and its password.
pub const LOGIN: Screen = Screen {
    door: Door::Staff,
    console: Console::Municipal,
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
    note: Some("総務省から配布された設定画面のログイン用ID・パスワードを入力してください。"),
};

/// The paths of one municipality's screens.
pub fn municipality_path(code: &MunicipalityCode, rest: &str) -> String {
    format!("/console/m/{}{rest}", code.as_str())
}

/// 画面3's items for one municipality, in the manual's order (the screens that exist).
pub fn menu_of(role: &StaffRole, code: &MunicipalityCode) -> Vec<MenuItem> {
    let mut items = vec![
        MenuItem { href: Cow::Owned(municipality_path(code, "")), label: "メニュー" },
        MenuItem { href: Cow::Owned(municipality_path(code, "/point")), label: "自治体ポイント設定" },
        MenuItem { href: Cow::Owned(municipality_path(code, "/events")), label: "特定支援イベント設定" },
        MenuItem {
            href: Cow::Owned(municipality_path(code, "/terminals")), label: "連絡先情報確認（端末一覧）"
        },
        MenuItem { href: Cow::Owned(municipality_path(code, "/grants")), label: "ポイント付与事業登録" },
        MenuItem { href: Cow::Owned(municipality_path(code, "/reports")), label: "自治体ポイント集計" },
    ];
    if *role == StaffRole::Mic {
        items.push(MenuItem {
            href: Cow::Owned(municipality_path(code, "/terminal-issuance")),
            label: "端末ID発行（様式Ⅰ→様式Ⅱ）",
        });
        items.push(MenuItem { href: Cow::Borrowed(HOME_PATH), label: "自治体の一覧" });
    }
    items
}

/// The staff member at the browser: their role, and the session token their forms' CSRF
/// tokens derive from.
pub struct Staff {
    pub role: StaffRole,
    pub login_id: String,
    pub token: String,
    pub csrf: String,
}

impl Staff {
    /// The staff member the request's cookie names, or the redirect to 画面2 (coming back to
    /// the same screen afterwards).
    pub fn from_request(state: &ApiState, req: &HttpRequest) -> Result<Staff, HttpResponse> {
        let back = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(HOME_PATH).to_owned();
        let to_login = || {
            let location = format!("{LOGIN_PATH}?next={}", super::mypage::percent_encode(&back));
            layout::see_other(&location).finish()
        };
        let token = session::session_token(req, Console::Municipal).ok_or_else(to_login)?;
        match state.sessions.principal(&token, state.now()) {
            Some(Principal::Staff { login_id, role }) => {
                Ok(Staff { role, login_id, csrf: session::csrf_for_session(&token), token })
            }
            _ => Err(to_login()),
        }
    }

    /// The municipality `code` names when this staff member may act for it; otherwise the
    /// refusal as a page (403 for another municipality's staff).
    pub fn acting_for(&self, code: &str) -> Result<MunicipalityCode, HttpResponse> {
        crate::api::acting_for(&self.role, code).map_err(|p| self.refusal(&p, None))
    }

    /// Who the header names.
    pub fn display(&self) -> String {
        match &self.role {
            StaffRole::Mic => format!("{}（総務省）", self.login_id),
            StaffRole::Municipality(code) => format!("{}（{}）", self.login_id, code.as_str()),
        }
    }

    /// The page frame of a screen of the municipality `code` (its menu), or of the console's
    /// top when `code` is None.
    pub fn page<'a>(&'a self, title: &'a str, current: &'a str, who: &'a str, menu: &'a [MenuItem]) -> Page<'a> {
        Page {
            brand: BRAND,
            title,
            who: Some(Who { name: who, logout_action: LOGOUT_PATH, csrf: &self.csrf }),
            menu,
            current,
        }
    }

    /// A refusal drawn as a page with the API's status, title and every wrong field.
    pub fn refusal(&self, problem: &Problem, code: Option<&MunicipalityCode>) -> HttpResponse {
        let menu = code.map(|c| menu_of(&self.role, c)).unwrap_or_default();
        let who = self.display();
        let page = self.page("エラー", "", &who, &menu);
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        layout::respond(status, page.render(problem_banner(problem)))
    }
}

/// A municipality's display name: the registered point's 自治体名, else its code.
pub fn municipality_name(state: &ApiState, code: &MunicipalityCode) -> String {
    state.catalog.current().municipalities.get(code).map(|m| m.name.clone()).unwrap_or_else(|| code.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mic_sees_issuance_in_the_menu() {
        let code: MunicipalityCode = "141305".parse().unwrap();
        let mic = menu_of(&StaffRole::Mic, &code);
        assert!(mic.iter().any(|i| i.href.ends_with("/terminal-issuance")));
        let own = menu_of(&StaffRole::Municipality(code), &code);
        assert!(!own.iter().any(|i| i.href.ends_with("/terminal-issuance")));
        assert_eq!(own[1].href, "/console/m/141305/point");
    }
}
