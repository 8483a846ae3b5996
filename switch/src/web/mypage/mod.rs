//! 利用者マイページ (manual §IV): the citizen's screens. Each handler calls the same domain
//! functions as the JSON API (`crate::api::mypage`, `crate::api::partners`), so a rule holds
//! the same on both; these modules only read forms and draw answers.
//!
//! - 画面18 (MyKey ID and password) and logout are `web::login`'s, with [`LOGIN`]'s words.
//! - [`home`]: 画面19, the menu and the balances in the manual's order.
//! - [`reserved`]: 留保ポイント, its lots and deadlines, the receipts (画面51), the move (R21).
//! - [`coupons`]: クーポンコード利用 (F80–F82), the URL coupon's pre-filled screen (R85).
//! - [`service_ids`]: 画面57 サービスIDの登録状況照会.
//! - [`settings`]: 画面58–60 利用者情報の変更 (e-mail, password, 基本自治体, the four mails).
//! - [`revoke`]: 画面62 マイキーIDの失効, with the manual's warning.

pub mod coupons;
pub mod home;
pub mod reserved;
pub mod revoke;
pub mod service_ids;
pub mod settings;

use actix_web::{web, HttpRequest, HttpResponse};
use actors::journal::WalletId;

use super::layout::{self, MenuItem, Page, Who};
use super::login::{self, Door, Screen};
use super::session::{self, Console};
use crate::api::auth::Principal;
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    login::routes(&LOGIN, cfg);
    cfg.service(home::show)
        .service(reserved::show)
        .service(reserved::move_points)
        .service(coupons::show)
        .service(coupons::redeem)
        .service(coupons::coupon_url)
        .service(service_ids::show)
        .service(settings::show)
        .service(settings::edit)
        .service(settings::confirm)
        .service(settings::save)
        .service(revoke::show)
        .service(revoke::submit);
}

pub const BRAND: &str = "利用者マイページ";
pub const LOGIN_PATH: &str = "/mypage/login";
pub const LOGOUT_PATH: &str = "/mypage/logout";
pub const HOME_PATH: &str = "/mypage";

/// 画面18 利用者ログイン: MyKey ID and my-page password (R10).
pub const LOGIN: Screen = Screen {
    door: Door::Citizen,
    console: Console::MyPage,
    brand: BRAND,
    title: "利用者ログイン",
    login_path: LOGIN_PATH,
    logout_path: LOGOUT_PATH,
    home_path: HOME_PATH,
    id_name: "mykey_id",
    id_label: "マイキーID",
    id_missing: "マイキーIDを入力してください",
    id_maxlength: Some(8),
    id_hint: Some("半角英大文字・数字8文字"),
    // The card's chip signs only through the app or a card reader's software, never a browser
    // (README, "Card login and the MyKey ID change on the web").
    note: Some("マイナンバーカードでのログインとマイキーIDの変更は、利用者マイページアプリ（カードの読み取りに対応したスマートフォン）から行ってください。"),
};

/// The left-hand menu of 画面19, in the manual's order (only screens that exist are listed).
pub const MENU: &[MenuItem] = &[
    MenuItem { href: std::borrow::Cow::Borrowed(HOME_PATH), label: "マイページトップ" },
    MenuItem { href: std::borrow::Cow::Borrowed(reserved::PATH), label: "留保ポイント" },
    MenuItem { href: std::borrow::Cow::Borrowed(coupons::PATH), label: "クーポンコード利用" },
    MenuItem { href: std::borrow::Cow::Borrowed(service_ids::PATH), label: "サービスIDの登録状況照会" },
    MenuItem { href: std::borrow::Cow::Borrowed(settings::PATH), label: "利用者情報の変更" },
    MenuItem { href: std::borrow::Cow::Borrowed(revoke::PATH), label: "マイキーIDの失効" },
];

/// The citizen at the browser: their wallet, MyKey ID and the session token their forms'
/// CSRF tokens derive from.
pub struct Citizen {
    pub wallet: WalletId,
    pub token: String,
    pub csrf: String,
}

impl Citizen {
    /// The citizen the request's cookie names, or the redirect to the login screen (coming
    /// back to `back` afterwards).
    pub fn from_request(state: &ApiState, req: &HttpRequest) -> Result<Citizen, HttpResponse> {
        let back = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(HOME_PATH).to_owned();
        let to_login = || {
            let location = format!("{LOGIN_PATH}?next={}", percent_encode(&back));
            layout::see_other(&location).finish()
        };
        let token = session::session_token(req, Console::MyPage).ok_or_else(to_login)?;
        match state.sessions.principal(&token, state.now()) {
            Some(Principal::Citizen { wallet }) => {
                Ok(Citizen { wallet, csrf: session::csrf_for_session(&token), token })
            }
            _ => Err(to_login()),
        }
    }

    /// The citizen's current MyKey ID, for the header (empty when it cannot be read).
    pub async fn mykey_id(&self, state: &ApiState) -> String {
        match state.registry.citizen(self.wallet).await {
            Ok(Some(c)) => c.mykey_id.as_str().to_owned(),
            _ => String::new(),
        }
    }

    /// The page frame of a logged-in screen.
    pub fn page<'a>(&'a self, title: &'a str, current: &'a str, mykey_id: &'a str) -> Page<'a> {
        Page {
            brand: BRAND,
            title,
            who: Some(Who { name: mykey_id, logout_action: LOGOUT_PATH, csrf: &self.csrf }),
            menu: MENU,
            current,
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for a query value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("/mypage/x?code=1 2"), "/mypage/x%3Fcode%3D1%202");
    }
}
