//! Request bodies from callers who are slow, anonymous or many (switch::body_guard): a stalled
//! body is cut off, a large body is refused before it is read unless the caller is known, and
//! anonymous bodies being read at once are bounded.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{parse_http_answer, HttpAnswer, Server};

/// Sends a head announcing `length` bytes and the first `sent` bytes of the body, then waits
/// (at most `wait`) for the answer without sending more.
fn stall(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    length: usize,
    sent: &[u8],
    wait: Duration,
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: switch\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(sent).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream
}

/// The answer on `stream`, or None when none came in its read timeout.
fn answer(stream: &mut TcpStream) -> Option<HttpAnswer> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if let Some(a) = parse_http_answer(&raw) {
                    let length = a.header("content-length").and_then(|v| v.parse::<usize>().ok());
                    if length.is_some_and(|n| a.body.len() >= n) {
                        return Some(a);
                    }
                }
            }
            Err(_) => break,
        }
    }
    parse_http_answer(&raw)
}

#[test]
fn a_body_that_stops_arriving_is_answered_408_and_does_not_hold_the_worker() {
    let s = Server::start_with(10, &[("SWITCH_HTTP__BODY_IDLE_TIMEOUT_S", "1")], |_| {});
    let started = Instant::now();
    let mut stream = stall(s.http, "/api/v1/mypage/login", &[], 100, br#"{"mykey_id":"MY12"#, Duration::from_secs(10));
    let a = answer(&mut stream).expect("an answer while the body is still incomplete");
    assert_eq!((a.status, a.json()["code"].as_str()), (408, Some("body-timeout")), "{}", a.text());
    assert!(started.elapsed() < Duration::from_secs(8), "answered after the idle timeout, not the client's");
    // Meanwhile and after, others are served (one HTTP worker).
    let (status, _) = common::http_json(s.http, "GET", "/openapi.json", &[], None);
    assert_eq!(status, 200);
}

#[test]
fn a_large_body_is_refused_before_it_is_read_unless_the_caller_is_known() {
    let s = Server::start(10);
    let path = "/api/v1/municipalities/141305/terminal-issuance";
    let ten_mib = 10 * 1024 * 1024;
    // No credentials: refused from the head alone (nothing of the body was sent).
    let mut stream = stall(s.http, path, &[], ten_mib, b"", Duration::from_secs(5));
    let a = answer(&mut stream).expect("answered from the head");
    assert_eq!((a.status, a.json()["code"].as_str()), (413, Some("body-too-large")), "{}", a.text());
    // Credentials that do not verify: 401, also before the body.
    for auth in ["Bearer not-a-session", "Bearer 1.wrong-partner-secret"] {
        let mut stream = stall(s.http, path, &[("Authorization", auth)], ten_mib, b"", Duration::from_secs(5));
        let a = answer(&mut stream).expect("answered from the head");
        assert_eq!((a.status, a.json()["code"].as_str()), (401, Some("unauthorized")), "{auth}: {}", a.text());
    }
    // An anonymous body that claims less but sends more is cut at the bound.
    let big = vec![b' '; 70 * 1024];
    let (status, body) = common::http_try(s.http, "POST", "/api/v1/mypage/login", &[], &big).expect("an answer");
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn anonymous_bodies_read_at_once_are_bounded() {
    let s = Server::start_with(10, &[("SWITCH_HTTP__ANONYMOUS_BODIES_MAX", "2")], |_| {});
    let slow: Vec<TcpStream> =
        (0..2).map(|_| stall(s.http, "/api/v1/mypage/login", &[], 100, b"{", Duration::from_secs(5))).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = stall(s.http, "/api/v1/mypage/login", &[], 100, b"{", Duration::from_secs(5));
    let a = answer(&mut third).expect("answered at once");
    assert_eq!((a.status, a.json()["code"].as_str()), (503, Some("busy")), "{}", a.text());
    assert_eq!(a.header("retry-after"), Some("1"));
    drop(slow);
    std::thread::sleep(Duration::from_millis(300));
    // The slots are given back when those bodies end.
    let (status, body) = common::http_json(
        s.http,
        "POST",
        "/api/v1/mypage/login",
        &[],
        Some(serde_json::json!({"mykey_id": "MY123456", "password": "wrong-password"})),
    );
    assert_eq!(status, 401, "{body}");
}
