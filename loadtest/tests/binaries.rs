//! The `terminal` and `loadtest` binaries, run as a person or a script would run them,
//! against the fake switch.

mod common;

use std::process::Stdio;

use common::{FakeOptions, FakeServer};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const TERMINAL: &str = env!("CARGO_BIN_EXE_terminal");
const LOADTEST: &str = env!("CARGO_BIN_EXE_loadtest");

async fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
        .await
        .expect("binary finishes")
        .expect("binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_prints_a_receipt_for_a_redemption() {
    let server = FakeServer::start(FakeOptions::default()).await;
    let addr = server.addr.to_string();
    let (code, out, err) =
        run(Command::new(TERMINAL).args(["--addr", &addr, "--id", "00052559", "redeem", "MY123456", "1,000"])).await;
    assert_eq!(code, 0, "{out}{err}");
    for want in ["取引済番号", "2026/11/25 09:30:15", "00052559", "テスト店", "MY123456", "川崎市ポイント", "1,000 pt"]
    {
        assert!(out.contains(want), "missing {want} in\n{out}");
    }
    let after = actors::demo::citizen(0).kawasaki_points - 1_000;
    assert!(out.contains(&format!("{} pt", loadtest::display::thousands(after))), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_shows_the_error_code_name_number_and_message() {
    let server = FakeServer::start(FakeOptions::default()).await;
    let addr = server.addr.to_string();
    let (code, out, _) =
        run(Command::new(TERMINAL)
            .args(["--addr", &addr, "--id", "00052559", "redeem", "MY123456", "M141305", "999999"]))
        .await;
    assert_eq!(code, 1);
    assert!(out.contains("INSUFFICIENT_POINTS") && out.contains("400") && out.contains("not enough points"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_prompt_runs_commands_until_quit() {
    let server = FakeServer::start(FakeOptions::default()).await;
    let addr = server.addr.to_string();
    let mut child = Command::new(TERMINAL)
        .args(["--addr", &addr, "--id", "00052560"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"help\ncard 030D45\nbogus\nheartbeat\nquit\n").await.unwrap();
    drop(stdin);
    let out =
        tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for want in ["ログインしました", "コマンド (commands)", "MY123456", "川崎市ポイント", "応答あり (alive)"]
    {
        assert!(stdout.contains(want), "missing {want} in\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadtest_writes_its_figures_as_json() {
    let server = FakeServer::start(FakeOptions::default()).await;
    let dir = std::env::temp_dir().join(format!("loadtest-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("run.json");
    let addr = server.addr.to_string();
    let (code, out, err) = run(Command::new(LOADTEST).args([
        "redeem",
        "--addr",
        &addr,
        "--terminals",
        "2",
        "--pipeline",
        "2",
        "--duration",
        "200ms",
        "--citizens",
        "20",
        "--json",
        json_path.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verification passed"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["verified"], true);
    assert!(json["ok"].as_u64().unwrap() > 0);
    assert!(json["command"].as_str().unwrap().contains("--terminals 2"));
    assert_eq!(json["mode"], "closed");
    assert!(json["offered_rate_per_s"].is_null());
    assert_eq!(json["skipped_send"], 0);
    assert!(!json["per_second"].as_array().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadtest_at_a_fixed_rate_writes_json_and_an_html_report() {
    let server = FakeServer::start(FakeOptions::default()).await;
    let dir = std::env::temp_dir().join(format!("loadtest-rate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("run.json");
    let html_path = dir.join("run.html");
    let addr = server.addr.to_string();
    let (code, out, err) = run(Command::new(LOADTEST).args([
        "redeem",
        "--addr",
        &addr,
        "--terminals",
        "2",
        "--rate",
        "100",
        "--duration",
        "1s",
        "--citizens",
        "20",
        "--json",
        json_path.to_str().unwrap(),
        "--report",
        html_path.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verification passed"), "{out}");
    assert!(out.contains("offered 100.0 /s, achieved"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["mode"], "open");
    assert_eq!(json["offered_rate_per_s"], 100.0);
    assert_eq!(json["scheduled"], 100);
    assert_eq!(json["skipped_send"], 0);
    assert_eq!(json["pipeline"], 64, "the open loop's default bound");
    let seconds = json["per_second"].as_array().unwrap();
    assert!(!seconds.is_empty());
    for key in ["second", "ok", "errors", "p50_us", "p99_us"] {
        assert!(seconds[0].get(key).is_some(), "missing per_second.{key}");
    }
    let ok_per_second: u64 = seconds.iter().map(|s| s["ok"].as_u64().unwrap()).sum();
    assert_eq!(ok_per_second, json["ok"].as_u64().unwrap());
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("p99.9") && html.contains("--rate 100"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadtest_refuses_a_rate_of_zero() {
    let (code, _, err) = run(Command::new(LOADTEST).args(["redeem", "--addr", "127.0.0.1:9", "--rate", "0"])).await;
    assert_eq!(code, 2);
    assert!(err.contains("--rate must be above 0"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadtest_refuses_more_terminals_than_the_demo_has() {
    let (code, _, err) =
        run(Command::new(LOADTEST).args(["redeem", "--addr", "127.0.0.1:9", "--terminals", "501"])).await;
    assert_ne!(code, 0);
    assert!(err.contains("1 to 500"), "{err}");
}
