//! A redeem run as one self-contained HTML page for operators: the parameters and command, the
//! latency percentiles, errors by code, and throughput and latency second by second as inline
//! SVG charts. Nothing is fetched (no scripts, fonts or styles from elsewhere), so the file can
//! be mailed or archived and still opens years later. Labels are Japanese with the English in
//! parentheses. The report's JSON is embedded too (as data, not script), so the page is also
//! the record.

use std::fmt::Write;

use crate::display::{jst, thousands};
use crate::report::Report;
use crate::timeline::SecondStats;

const CHART_WIDTH: f64 = 860.0;
const CHART_HEIGHT: f64 = 280.0;
const MARGIN_LEFT: f64 = 72.0;
const MARGIN_RIGHT: f64 = 16.0;
const MARGIN_TOP: f64 = 16.0;
const MARGIN_BOTTOM: f64 = 44.0;
/// Up to this many seconds every point of a line gets a dot (with its tooltip).
const DOTS_SECONDS_MAX: usize = 300;
const COLOR_OK: &str = "#2f6fb3";
const COLOR_ERRORS: &str = "#c8372d";
const COLOR_SKIPPED: &str = "#8a8a8a";
const COLOR_P50: &str = "#2f6fb3";
const COLOR_P99: &str = "#e07b00";

/// The whole page.
pub fn render(report: &Report) -> String {
    let mut page = String::with_capacity(32 * 1024 + report.per_second.len() * 1024);
    page.push_str(HEAD);
    let _ = write!(
        page,
        "<h1>負荷試験結果 (load test report): ポイント利用 (redeem)</h1>\n<p class=\"sub\">{} — {}</p>\n",
        esc(&jst(report.started_unix_ms)),
        esc(mode_label(report))
    );
    parameters(&mut page, report);
    results(&mut page, report);
    percentiles(&mut page, report);
    errors(&mut page, report);
    charts(&mut page, report);
    per_second_table(&mut page, report);
    embedded_json(&mut page, report);
    page.push_str("</body>\n</html>\n");
    page
}

const HEAD: &str = r#"<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>負荷試験結果 (load test report)</title>
<style>
body { font-family: system-ui, -apple-system, "Hiragino Sans", "Yu Gothic", "Noto Sans JP", sans-serif;
       margin: 24px auto; max-width: 920px; color: #222; line-height: 1.5; padding: 0 12px; }
h1 { font-size: 1.5em; margin-bottom: 0; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
.sub { color: #666; margin-top: 4px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 10px; }
th { background: #f3f3f3; text-align: left; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f3f3f3; padding: 1px 4px; word-break: break-all; }
.passed { color: #1d7a2e; font-weight: 600; }
.failed { color: #c8372d; font-weight: 600; }
.note { color: #666; font-size: 0.9em; }
.legend span.key { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 14px; vertical-align: -1px; }
svg text { font-size: 11px; fill: #444; }
svg .axis { stroke: #888; }
svg .grid { stroke: #e4e4e4; }
</style>
</head>
<body>
"#;

fn mode_label(report: &Report) -> &'static str {
    match report.offered_rate_per_s {
        Some(_) => "開ループ・一定レート (open loop, fixed rate)",
        None => "閉ループ (closed loop)",
    }
}

fn parameters(page: &mut String, r: &Report) {
    page.push_str("<h2>実行条件 (parameters)</h2>\n<table>\n");
    let command = r.command.as_deref().map_or_else(|| "-".to_owned(), |c| format!("<code>{}</code>", esc(c)));
    row(page, "コマンド (command)", &command);
    row(page, "開始日時 (started, JST)", &esc(&jst(r.started_unix_ms)));
    row(page, "接続先 (address)", &esc(&r.addr));
    row(page, "方式 (mode)", &esc(mode_label(r)));
    row(page, "端末数 (terminals)", &thousands(r.terminals as u64));
    match r.offered_rate_per_s {
        Some(rate) => {
            row(page, "指定レート (offered rate)", &format!("{} 件/秒 (/s)", rate_text(rate)));
            row(page, "端末あたり未応答の上限 (max unanswered per terminal)", &thousands(r.pipeline as u64));
        }
        None => row(page, "端末あたり同時送信数 (in flight per terminal)", &thousands(r.pipeline as u64)),
    }
    row(page, "送信時間 (sending time)", &format!("{:.3} 秒 (s)", r.configured_duration_s));
    row(page, "1件のポイント数 (points per redemption)", &format!("{} pt", thousands(r.points)));
    row(page, "市民数 (citizens)", &thousands(r.citizens));
    page.push_str("</table>\n");
}

fn results(page: &mut String, r: &Report) {
    page.push_str("<h2>結果 (results)</h2>\n<table>\n");
    row(page, "成功 (ok)", &thousands(r.ok));
    row(page, "エラー (errors)", &thousands(r.errors));
    if let Some(scheduled) = r.scheduled {
        row(page, "予定件数 (due)", &thousands(scheduled));
    }
    row(page, "送信件数 (sent)", &thousands(r.sent));
    row(page, "送信見送り (skipped sends)", &thousands(r.skipped_send));
    if let Some(rate) = r.offered_rate_per_s {
        row(page, "指定レート (offered rate)", &format!("{} 件/秒 (/s)", rate_text(rate)));
    }
    row(page, "実送信レート (achieved rate)", &format!("{:.1} 件/秒 (/s)", r.achieved_rate_per_s));
    row(page, "スループット (throughput)", &format!("{:.1} 成功/秒 (ok/s)", r.throughput_per_s));
    row(page, "所要時間 (elapsed, with drain)", &format!("{:.3} 秒 (s)", r.duration_s));
    let (class, label) = match r.verification {
        "passed" => ("passed", "合格 (passed)"),
        "failed" => ("failed", "不合格 (failed)"),
        _ => ("note", "判定不能 (not applicable)"),
    };
    let note =
        r.verification_note.as_deref().map(|n| format!(" <span class=\"note\">{}</span>", esc(n))).unwrap_or_default();
    row(page, "残高検証 (verification)", &format!("<span class=\"{class}\">{label}</span>{note}"));
    row(page, "応答済みポイント (acknowledged points)", &format!("{} pt", thousands(r.acked_points)));
    let drop = r.balance_drop.map_or_else(|| "-".to_owned(), |d| format!("{} pt", crate::display::thousands_signed(d)));
    row(page, "残高の減少 (balance drop)", &drop);
    if r.unanswered > 0 {
        row(page, "結果不明 (unanswered)", &thousands(r.unanswered as u64));
        row(page, "切断された端末 (terminals lost)", &thousands(r.terminals_lost as u64));
    }
    page.push_str("</table>\n");
}

fn percentiles(page: &mut String, r: &Report) {
    let from = if r.offered_rate_per_s.is_some() {
        "予定送信時刻から応答まで (from the due send time to the answer)"
    } else {
        "送信から応答まで (from the send to the answer)"
    };
    let _ = write!(
        page,
        "<h2>遅延パーセンタイル (latency percentiles)</h2>\n<p class=\"note\">成功した利用のみ、{from}</p>\n\
         <table id=\"percentiles\">\n<tr><th>パーセンタイル (percentile)</th><th>ミリ秒 (ms)</th><th>マイクロ秒 (µs)</th></tr>\n"
    );
    let l = &r.latency_us;
    for (name, us) in [("p50", l.p50), ("p90", l.p90), ("p99", l.p99), ("p99.9", l.p999), ("最大 (max)", l.max)] {
        let _ = writeln!(
            page,
            "<tr><td>{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            ms_text(us),
            thousands(us)
        );
    }
    page.push_str("</table>\n");
}

fn errors(page: &mut String, r: &Report) {
    page.push_str("<h2>エラー内訳 (errors by code)</h2>\n");
    if r.errors_by_code.is_empty() {
        page.push_str("<p>なし (none)</p>\n");
        return;
    }
    page.push_str(
        "<table id=\"errors\">\n<tr><th>コード (code)</th><th>件数 (count)</th><th>割合 (share of answers)</th></tr>\n",
    );
    let answers = (r.ok + r.errors).max(1) as f64;
    for (code, n) in &r.errors_by_code {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}%</td></tr>",
            esc(code),
            thousands(*n),
            *n as f64 * 100.0 / answers
        );
    }
    page.push_str("</table>\n");
}

fn charts(page: &mut String, r: &Report) {
    let seconds = &r.per_second;
    page.push_str("<h2>スループット (throughput): 1秒ごとの推移 (over time)</h2>\n");
    page.push_str(
        "<p class=\"note\">1秒ごとの成功件数、応答を受けた時刻で集計 (ok per second, by the time of the answer)</p>\n",
    );
    let mut throughput = vec![Series {
        name: "成功 (ok/s)",
        color: COLOR_OK,
        style: Style::Bars,
        values: seconds.iter().map(|s| Some(s.ok as f64)).collect(),
    }];
    if r.errors > 0 {
        throughput.push(Series {
            name: "エラー (errors/s)",
            color: COLOR_ERRORS,
            style: Style::Line,
            values: seconds.iter().map(|s| Some(s.errors as f64)).collect(),
        });
    }
    if r.skipped_send > 0 {
        throughput.push(Series {
            name: "送信見送り (skipped/s)",
            color: COLOR_SKIPPED,
            style: Style::Line,
            values: seconds.iter().map(|s| Some(s.skipped_send as f64)).collect(),
        });
    }
    chart(page, "throughput-chart", "件/秒 (per s)", &throughput);

    page.push_str("<h2>遅延 (latency): 1秒ごとの推移 (over time)</h2>\n");
    page.push_str("<p class=\"note\">1秒ごとの p50 と p99、ミリ秒 (p50 and p99 per second, ms)</p>\n");
    let ms = |v: Option<u64>| v.map(|us| us as f64 / 1000.0);
    let latency = [
        Series {
            name: "p50",
            color: COLOR_P50,
            style: Style::Line,
            values: seconds.iter().map(|s| ms(s.p50_us)).collect(),
        },
        Series {
            name: "p99",
            color: COLOR_P99,
            style: Style::Line,
            values: seconds.iter().map(|s| ms(s.p99_us)).collect(),
        },
    ];
    chart(page, "latency-chart", "ミリ秒 (ms)", &latency);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Bars,
    Line,
}

struct Series {
    name: &'static str,
    color: &'static str,
    style: Style,
    /// One value per second; `None` leaves a gap in a line.
    values: Vec<Option<f64>>,
}

/// One chart: x is the elapsed second, y from 0 to a round number above the largest value.
fn chart(page: &mut String, id: &str, y_label: &str, series: &[Series]) {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0).max(1);
    let plot_w = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_h = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let max = series.iter().flat_map(|s| s.values.iter().flatten()).fold(0.0_f64, |m, v| m.max(*v));
    let (y_max, y_step) = axis_scale(max);
    let slot = plot_w / n as f64;
    let x = |second: usize| MARGIN_LEFT + (second as f64 + 0.5) * slot;
    let y = |v: f64| MARGIN_TOP + plot_h - v / y_max * plot_h;

    page.push_str("<p class=\"legend\">");
    for s in series {
        let _ = write!(page, "<span class=\"key\" style=\"background:{}\"></span>{}", s.color, esc(s.name));
    }
    page.push_str("</p>\n");
    let _ = writeln!(
        page,
        "<svg id=\"{id}\" width=\"{CHART_WIDTH}\" height=\"{CHART_HEIGHT}\" viewBox=\"0 0 {CHART_WIDTH} {CHART_HEIGHT}\" \
         role=\"img\" aria-label=\"{}\">",
        esc(y_label)
    );
    // Horizontal grid and y labels.
    let mut tick = 0.0;
    while tick <= y_max * (1.0 + 1e-9) {
        let ty = y(tick);
        let _ = writeln!(
            page,
            "<line class=\"grid\" x1=\"{MARGIN_LEFT}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{ty:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            MARGIN_LEFT + plot_w,
            MARGIN_LEFT - 6.0,
            ty + 4.0,
            tick_text(tick, y_step)
        );
        tick += y_step;
    }
    // X labels at a round step of seconds.
    let x_step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]
        .into_iter()
        .find(|step| n / step <= 12)
        .unwrap_or(n.div_ceil(12));
    for second in (0..n).step_by(x_step) {
        let _ = writeln!(
            page,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{second}</text>",
            x(second),
            MARGIN_TOP + plot_h + 16.0
        );
    }
    let _ = writeln!(
        page,
        "<line class=\"axis\" x1=\"{MARGIN_LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\"/>\
         <line class=\"axis\" x1=\"{MARGIN_LEFT}\" y1=\"{MARGIN_TOP}\" x2=\"{MARGIN_LEFT}\" y2=\"{0:.1}\"/>",
        MARGIN_TOP + plot_h,
        MARGIN_LEFT + plot_w
    );
    let _ = writeln!(
        page,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">経過秒 (elapsed s)</text>\
         <text x=\"14\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">{}</text>",
        MARGIN_LEFT + plot_w / 2.0,
        CHART_HEIGHT - 6.0,
        MARGIN_TOP + plot_h / 2.0,
        MARGIN_TOP + plot_h / 2.0,
        esc(y_label)
    );
    for s in series {
        match s.style {
            Style::Bars => {
                let width = (slot * 0.8).max(0.5);
                for (second, v) in s.values.iter().enumerate() {
                    let Some(v) = *v else { continue };
                    let top = y(v);
                    let _ = writeln!(
                        page,
                        "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{}\">\
                         <title>{second} s: {} {}</title></rect>",
                        x(second) - width / 2.0,
                        MARGIN_TOP + plot_h - top,
                        s.color,
                        value_text(v),
                        esc(s.name)
                    );
                }
            }
            Style::Line => {
                // Consecutive seconds with a value form one polyline; a second without one breaks it.
                let mut points = String::new();
                let flush = |points: &mut String, page: &mut String| {
                    if !points.is_empty() {
                        let _ = writeln!(
                            page,
                            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" points=\"{}\"/>",
                            s.color,
                            points.trim_end()
                        );
                        points.clear();
                    }
                };
                for (second, v) in s.values.iter().enumerate() {
                    match v {
                        Some(v) => {
                            let _ = write!(points, "{:.1},{:.1} ", x(second), y(*v));
                        }
                        None => flush(&mut points, page),
                    }
                }
                flush(&mut points, page);
                if n <= DOTS_SECONDS_MAX {
                    for (second, v) in s.values.iter().enumerate() {
                        let Some(v) = *v else { continue };
                        let _ = writeln!(
                            page,
                            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\"><title>{second} s: {} {}</title></circle>",
                            x(second),
                            y(v),
                            s.color,
                            value_text(v),
                            esc(s.name)
                        );
                    }
                }
            }
        }
    }
    page.push_str("</svg>\n");
}

fn per_second_table(page: &mut String, r: &Report) {
    page.push_str(
        "<h2>秒ごとのデータ (per-second data)</h2>\n<details open>\n<summary>表 (table)</summary>\n\
         <table id=\"per-second\">\n<tr><th>経過秒 (second)</th><th>成功 (ok)</th><th>エラー (errors)</th>\
         <th>送信見送り (skipped)</th><th>p50 (ms)</th><th>p99 (ms)</th></tr>\n",
    );
    for s in &r.per_second {
        per_second_row(page, s);
    }
    page.push_str("</table>\n</details>\n");
}

fn per_second_row(page: &mut String, s: &SecondStats) {
    let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), ms_text);
    let _ = writeln!(
        page,
        "<tr data-second=\"{0}\"><td class=\"num\">{0}</td><td class=\"num\">{1}</td><td class=\"num\">{2}</td>\
         <td class=\"num\">{3}</td><td class=\"num\">{4}</td><td class=\"num\">{5}</td></tr>",
        s.second,
        thousands(s.ok),
        thousands(s.errors),
        thousands(s.skipped_send),
        ms(s.p50_us),
        ms(s.p99_us)
    );
}

fn embedded_json(page: &mut String, r: &Report) {
    let Ok(json) = r.to_json() else { return };
    // `</` inside a script element would end it early; `<\/` is the same JSON string.
    let _ = writeln!(
        page,
        "<script type=\"application/json\" id=\"report-json\">\n{}\n</script>",
        json.replace("</", "<\\/")
    );
}

fn row(page: &mut String, label: &str, value_html: &str) {
    let _ = writeln!(page, "<tr><th>{label}</th><td>{value_html}</td></tr>");
}

/// Text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Microseconds as milliseconds with about three significant digits.
fn ms_text(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        thousands(ms.round() as u64)
    }
}

fn rate_text(rate: f64) -> String {
    if rate.fract() == 0.0 && rate < u64::MAX as f64 {
        thousands(rate as u64)
    } else {
        format!("{rate:.2}")
    }
}

fn value_text(v: f64) -> String {
    if v.fract() == 0.0 {
        thousands(v as u64)
    } else {
        format!("{v:.2}")
    }
}

/// A round top of the y axis at or above `max`, and the step of its five or so grid lines.
fn axis_scale(max: f64) -> (f64, f64) {
    if !(max > 0.0 && max.is_finite()) {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

fn tick_text(v: f64, step: f64) -> String {
    if step >= 1.0 {
        thousands(v.round() as u64)
    } else {
        let decimals = (-step.log10()).ceil().max(0.0) as usize;
        format!("{v:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(axis_scale(0.0), (1.0, 0.2));
        assert_eq!(axis_scale(200.0), (200.0, 50.0));
        let (top, step) = axis_scale(187.0);
        assert!((187.0..=250.0).contains(&top), "{top}");
        assert!([20.0, 50.0].contains(&step), "{step}");
        let (top, step) = axis_scale(0.37);
        assert!((0.37..=0.5).contains(&top), "{top} {step}");
        assert_eq!(tick_text(0.1, 0.1), "0.1");
        assert_eq!(tick_text(12_000.0, 2_000.0), "12,000");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }
}
