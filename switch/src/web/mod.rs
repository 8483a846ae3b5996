//! The web screens (画面) of the manual, served by the switch as plain HTML: the citizen's my
//! page (利用者マイページ), the municipal console (自治体ポイント管理クラウド) and the partners'
//! admin page (応援ポイント会社用管理ページ). Pages are drawn on the server with maud, one stylesheet, no
//! scripts and nothing fetched from elsewhere, so they work on closed networks and on a phone.
//!
//! The screens call the same domain code as the JSON API (`crate::api`): the same sessions,
//! login throttle, registry, store and router. What is here is forms and drawing:
//!
//! - [`session`]: the session cookie, CSRF tokens and the origin check of form posts.
//! - [`layout`]: the page frame, the stylesheet, form fields with their errors, numbers and
//!   dates as Japanese screens write them.
//! - [`login`]: the one login screen and logout of every console, by who logs in.
//! - [`mypage`]: 利用者マイページ (画面18–19 so far).
//! - [`partner`]: 応援ポイント会社用管理ページ, the partner staff's admin page (F76: uploads and
//!   their results, coupon issuances, debits and cancellations).
//! - [`console`]: 自治体ポイント管理クラウド, the console of municipality staff and MIC (画面2–5,
//!   the terminal list, terminal issuance).

// A screen that cannot be shown answers a redirect or an error page in place of its data; that
// is the cold path, so it is returned by value rather than boxed (as `crate::api` does).
#![allow(clippy::result_large_err)]

pub mod console;
pub mod layout;
pub mod login;
pub mod mypage;
pub mod partner;
pub mod session;

use actix_web::web;

pub use session::WebSettings;

/// Registers the screens' routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::FormConfig::default().limit(64 * 1024))
        .service(layout::stylesheet)
        .configure(mypage::routes)
        .configure(console::routes)
        .configure(partner::routes);
}
