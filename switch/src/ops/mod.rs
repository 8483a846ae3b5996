//! The ops dashboard: `GET /ops` (a page a duty operator keeps open) and `GET /ops/series.json`
//! (what it draws).
//!
//! A sampler thread reads the switch's own Prometheus metrics once a second (the same text
//! `GET /metrics` serves), turns the difference from the previous reading into one [`Point`]
//! (requests per second by result, latency percentiles, errors by code, batch sizes, commit
//! time, pending entries, connections, active wallets) and keeps the last [`CAPACITY`] points,
//! so a page opened in the middle of an incident shows the last ten minutes at once. The page
//! is one self-contained HTML document (`ops.html`: no external scripts, fonts or styles, for
//! closed networks) that polls `series.json?since=<seq>` every second and draws its own SVG
//! charts.
//!
//! - [`prom`]: reading the Prometheus text format back.
//! - [`sample`]: readings to points; percentiles from histogram buckets.

pub mod prom;
pub mod sample;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};

pub use sample::{Distribution, Histogram, Point, Totals};

/// One point per this interval.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Points kept: ten minutes at one a second.
pub const CAPACITY: usize = 600;

/// The last [`CAPACITY`] points, newest last.
pub struct Series {
    /// When this switch process started sampling (Unix ms): a page seeing it change knows the
    /// switch restarted and its sequence numbers started over.
    boot_ms: u64,
    ring: Mutex<Ring>,
}

struct Ring {
    points: VecDeque<Point>,
    next_seq: u64,
}

/// The body of `GET /ops/series.json`.
#[derive(Debug, Serialize)]
pub struct SeriesBody {
    pub boot_ms: u64,
    /// The server's clock when answering (Unix ms), so a page can tell stale data without
    /// trusting its own clock.
    pub now_ms: u64,
    pub interval_ms: u64,
    pub capacity: usize,
    /// Points with `seq` above the request's `since`, oldest first.
    pub points: Vec<Point>,
}

impl Series {
    pub fn new(boot_ms: u64) -> Series {
        Series { boot_ms, ring: Mutex::new(Ring { points: VecDeque::with_capacity(CAPACITY), next_seq: 1 }) }
    }

    /// Appends the point `make` builds for the next sequence number, dropping the oldest past
    /// [`CAPACITY`].
    pub fn push_with(&self, make: impl FnOnce(u64) -> Point) {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.points.len() == CAPACITY {
            ring.points.pop_front();
        }
        ring.points.push_back(make(seq));
    }

    /// Every point kept with a sequence number above `since` (all of them for `None`).
    pub fn body_since(&self, since: Option<u64>) -> SeriesBody {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let after = since.unwrap_or(0);
        SeriesBody {
            boot_ms: self.boot_ms,
            now_ms: unix_ms(),
            interval_ms: INTERVAL.as_millis() as u64,
            capacity: CAPACITY,
            points: ring.points.iter().filter(|p| p.seq > after).cloned().collect(),
        }
    }
}

/// Starts the sampler on a thread of its own (off the actor threads; one reading renders the
/// whole exposition). The first reading is taken here, before the switch serves anything, so
/// the first point counts everything from the start; then one at each whole second of the wall
/// clock. The thread stops by itself once the returned series is dropped.
pub fn start(handle: PrometheusHandle) -> Arc<Series> {
    let series = Arc::new(Series::new(unix_ms()));
    let weak = Arc::downgrade(&series);
    let first = (Instant::now(), read(&handle));
    let spawned =
        std::thread::Builder::new().name("ops-sampler".into()).spawn(move || sample_loop(&handle, &weak, first));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the ops dashboard sampler; /ops will show no data");
    }
    series
}

fn sample_loop(handle: &PrometheusHandle, series: &Weak<Series>, first: (Instant, Totals)) {
    let (mut at, mut earlier) = first;
    loop {
        let into_second = unix_ms() % INTERVAL.as_millis() as u64;
        std::thread::sleep(INTERVAL - Duration::from_millis(into_second));
        let Some(series) = series.upgrade() else { return };
        let totals = read(handle);
        let now = Instant::now();
        let dt_s = now.duration_since(at).as_secs_f64();
        series.push_with(|seq| Point::between(seq, unix_ms(), dt_s, &earlier, &totals));
        (at, earlier) = (now, totals);
    }
}

/// One reading of the switch's metrics.
pub fn read(handle: &PrometheusHandle) -> Totals {
    // Rendering folds the histograms' pending samples in first (as upkeep would).
    Totals::from_samples(&prom::parse(&handle.render()))
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// What the HTTP side needs: the series, or `None` when metrics are not enabled.
pub struct OpsState {
    pub series: Option<Arc<Series>>,
}

/// Registers `GET /ops`, `GET /ops/` and `GET /ops/series.json`; the app must carry
/// `web::Data<OpsState>`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ops", web::get().to(page))
        .route("/ops/", web::get().to(page))
        .route("/ops/series.json", web::get().to(series_json));
}

async fn page(state: web::Data<OpsState>) -> HttpResponse {
    match &state.series {
        Some(_) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(page_html()),
        None => HttpResponse::NotFound().content_type("text/html; charset=utf-8").body(DISABLED_HTML),
    }
}

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<u64>,
}

async fn series_json(state: web::Data<OpsState>, query: web::Query<SinceQuery>) -> HttpResponse {
    match &state.series {
        Some(series) => {
            HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(series.body_since(query.since))
        }
        None => HttpResponse::NotFound().json(serde_json::json!({ "error": "metrics are not enabled" })),
    }
}

const PAGE_TEMPLATE: &str = include_str!("ops.html");
/// Where the page takes the table of error codes.
const CODES_PLACEHOLDER: &str = "/*CODES*/{}";

/// The page, with the error codes' numbers and Japanese meanings filled in.
pub fn page_html() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| PAGE_TEMPLATE.replacen(CODES_PLACEHOLDER, &codes_json(), 1))
}

/// `{"INSUFFICIENT_POINTS": {"n": 400, "ja": "…"}, …}`, safe inside a `<script>`.
fn codes_json() -> String {
    let codes: serde_json::Map<String, serde_json::Value> = protocol::ErrorCode::ALL
        .iter()
        .map(|c| (c.name().to_string(), serde_json::json!({ "n": c.as_u16(), "ja": c.meaning_ja() })))
        .collect();
    serde_json::Value::Object(codes).to_string().replace("</", "<\\/")
}

const DISABLED_HTML: &str = "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>運用ダッシュボード</title></head>\n<body data-state=\"disabled\" style=\"font-family: sans-serif; margin: 3em\">\n<h1>運用ダッシュボードは使えません</h1>\n<p>このスイッチではメトリクスが無効です (metrics are not enabled)。ダッシュボードはスイッチ自身のメトリクスから描かれます。</p>\n</body></html>\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn point(seq: u64) -> Point {
        Point::between(seq, seq * 1000, 1.0, &Totals::default(), &Totals::default())
    }

    #[test]
    fn the_ring_keeps_the_last_ten_minutes_and_answers_since() {
        let series = Series::new(42);
        for _ in 0..CAPACITY + 5 {
            series.push_with(point);
        }
        let all = series.body_since(None);
        assert_eq!(all.boot_ms, 42);
        assert_eq!(all.points.len(), CAPACITY);
        assert_eq!(all.points.first().map(|p| p.seq), Some(6));
        assert_eq!(all.points.last().map(|p| p.seq), Some(CAPACITY as u64 + 5));
        let newer = series.body_since(Some(CAPACITY as u64 + 3));
        assert_eq!(newer.points.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![604, 605]);
        assert!(series.body_since(Some(10_000)).points.is_empty());
    }

    #[actix_web::test]
    async fn routes_serve_the_page_and_the_series_or_say_metrics_are_off() {
        use actix_web::{test, App};
        let series = Arc::new(Series::new(7));
        series.push_with(point);
        series.push_with(point);
        let app = test::init_service(
            App::new().app_data(web::Data::new(OpsState { series: Some(series) })).configure(routes),
        )
        .await;
        for uri in ["/ops", "/ops/"] {
            let page = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
            assert_eq!(page.status(), 200, "{uri}");
            assert!(String::from_utf8(test::read_body(page).await.to_vec()).unwrap().contains("運用ダッシュボード"));
        }
        let request = test::TestRequest::get().uri("/ops/series.json?since=1").to_request();
        let body: serde_json::Value = test::call_and_read_body_json(&app, request).await;
        assert_eq!(body["boot_ms"], 7);
        assert_eq!(body["points"].as_array().unwrap().len(), 1);
        assert_eq!(body["points"][0]["seq"], 2);

        let off =
            test::init_service(App::new().app_data(web::Data::new(OpsState { series: None })).configure(routes)).await;
        let page = test::call_service(&off, test::TestRequest::get().uri("/ops").to_request()).await;
        assert_eq!(page.status(), 404);
        let text = String::from_utf8(test::read_body(page).await.to_vec()).unwrap();
        assert!(text.contains("メトリクスが無効です"), "{text}");
        let json = test::call_service(&off, test::TestRequest::get().uri("/ops/series.json").to_request()).await;
        assert_eq!(json.status(), 404);
    }

    #[test]
    fn the_page_is_self_contained_and_knows_every_code() {
        let html = page_html();
        assert!(!html.contains(CODES_PLACEHOLDER), "codes filled in");
        assert!(html.contains(r#""INSUFFICIENT_POINTS":{"ja":"ポイント残高が不足しています","n":400}"#));
        // Nothing is fetched from elsewhere: closed networks. (The SVG namespace is a name.)
        let html = html.replace("http://www.w3.org/2000/svg", "");
        for outside in ["http://", "https://", "//cdn", "<link", "src=", "@import", "url("] {
            assert!(!html.contains(outside), "the page must not load {outside}");
        }
        assert!(html.contains("lang=\"ja\""));
    }
}
