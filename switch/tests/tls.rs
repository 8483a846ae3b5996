//! TLS on the terminal port and on HTTP (issue 17 item 9), with a CA and a server certificate
//! made here (rcgen): a terminal session over TLS redeems points; a plain client, and a client
//! that does not trust the switch's CA, get nothing; a switch told neither TLS nor plain TCP
//! refuses to start; HTTPS serves when configured.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use common::*;
use loadtest::client::{login_demo_with, ClientConfig, ClientError, TlsClient};
use protocol::{FrameCodec, Redeem, Response, TerminalId};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use tokio_util::codec::Decoder;

/// A CA and a certificate it signed for `localhost` and 127.0.0.1, as PEM files in `dir`.
struct TestPki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path, ca_name: &str) -> TestPki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, ca_name);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf_params.distinguished_name.push(DnType::CommonName, "switch");
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let pki = TestPki {
        ca: dir.join(format!("{ca_name}-ca.pem")),
        cert: dir.join(format!("{ca_name}-switch.pem")),
        key: dir.join(format!("{ca_name}-switch.key")),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, leaf.pem()).unwrap();
    std::fs::write(&pki.key, leaf_key.serialize_pem()).unwrap();
    pki
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn tls_config(ca: &Path, name: &str) -> ClientConfig {
    ClientConfig { tls: Some(TlsClient::from_ca_file(ca, name).unwrap()), ..ClientConfig::default() }
}

#[test]
fn a_terminal_session_runs_over_tls_and_plain_or_untrusting_clients_get_nothing() {
    let files = tempfile::tempdir().unwrap();
    let pki = make_pki(files.path(), "municipal");
    let stranger = make_pki(files.path(), "stranger");
    let (cert, key) = (pki.cert.to_str().unwrap(), pki.key.to_str().unwrap());
    let s = Server::start_with(
        3,
        &[
            ("SWITCH_TERMINAL__PLAIN_TCP", "false"),
            ("SWITCH_TERMINAL__TLS_CERT_FILE", cert),
            ("SWITCH_TERMINAL__TLS_KEY_FILE", key),
        ],
        |_| {},
    );
    let museum = TerminalId::new(MUSEUM).unwrap();
    let citizen = actors::demo::citizen(0);

    runtime().block_on(async {
        // By name and by address: the certificate carries both.
        for name in ["localhost", "127.0.0.1"] {
            let (client, ok) = login_demo_with(s.terminal, museum, tls_config(&pki.ca, name)).await.unwrap();
            assert!(ok.idle_timeout_s > 0);
            let redeem = Redeem {
                seq: if name == "localhost" { 1 } else { 2 },
                mykey_id: citizen.mykey_id,
                account: "M141305".parse().unwrap(),
                points: 7,
            };
            let answered = client.redeem(redeem.clone()).await.unwrap();
            assert!(!answered.replayed);
            // The same seq again over TLS: the first answer, replayed.
            let again = client.redeem(redeem).await.unwrap();
            assert!(again.replayed && again.txn_no == answered.txn_no);
        }

        // A client that trusts another CA refuses the switch's certificate.
        let refused = login_demo_with(s.terminal, museum, tls_config(&stranger.ca, "localhost")).await.err();
        assert!(matches!(refused, Some(ClientError::Io(_))), "{refused:?}");
        // And one expecting another name.
        let wrong_name = login_demo_with(s.terminal, museum, tls_config(&pki.ca, "switch.example.lg.jp")).await.err();
        assert!(matches!(wrong_name, Some(ClientError::Io(_))), "{wrong_name:?}");
    });

    // A plain client's Login is no TLS record: the switch ends the connection without a frame
    // the client could read as an answer, let alone LoginOk.
    let mut plain = TcpStream::connect(s.terminal).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut frame = BytesMut::new();
    login_request(MUSEUM).encode_frame(1, 1, &mut frame);
    plain.write_all(&frame).unwrap();
    let mut got = Vec::new();
    match plain.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the switch must close a plain connection, not leave it open: {e}"),
    }
    let mut buf = BytesMut::from(&got[..]);
    if let Ok(Some(f)) = FrameCodec::default().decode(&mut buf) {
        assert!(!matches!(Response::decode(&f), Ok(Response::LoginOk(_))), "a plain client logged in");
    }
    let metrics = http_answer(s.http, "GET", "/metrics", &[], b"").unwrap().text();
    assert!(metrics.contains("switch_terminal_tls_handshakes_failed_total"), "{metrics}");

    // Only the TLS redemptions moved points: 7 twice.
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn a_switch_without_a_certificate_or_plain_tcp_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    seed_terminals(dir.path(), 1, &[MUSEUM]);
    let data_dir = dir.path().to_str().unwrap();
    let serve = ["serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"];
    let mut env = sqlite_env();
    env.retain(|(k, _)| k != "SWITCH_TERMINAL__PLAIN_TCP");
    let out = switch_command(&serve, &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("terminal.tls_cert_file") && stderr.contains("terminal.plain_tcp"), "{stderr}");

    // A certificate file that is not there is named.
    env.push(("SWITCH_TERMINAL__TLS_CERT_FILE".into(), "/nonexistent/switch.pem".into()));
    env.push(("SWITCH_TERMINAL__TLS_KEY_FILE".into(), "/nonexistent/switch.key".into()));
    let out = switch_command(&serve, &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/nonexistent/switch.pem"), "{stderr}");
}

#[test]
fn https_serves_when_configured() {
    let files = tempfile::tempdir().unwrap();
    let pki = make_pki(files.path(), "municipal");
    let (cert, key) = (pki.cert.to_str().unwrap(), pki.key.to_str().unwrap());
    let s = Server::start_with(1, &[("SWITCH_HTTP__TLS_CERT_FILE", cert), ("SWITCH_HTTP__TLS_KEY_FILE", key)], |_| {});

    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&pki.ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connection = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, TcpStream::connect(s.http).unwrap());
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    // A peer that closes without close_notify is fine here: the answer is complete.
    let _ = tls.read_to_end(&mut raw);
    let answer = parse_http_answer(&raw).expect("an HTTP answer over TLS");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["status"], "ok");

    // Plain HTTP to the HTTPS port gets no HTTP answer.
    assert!(http_answer(s.http, "GET", "/health", &[], b"").is_none_or(|a| a.status != 200));
}

/// `loadtest`'s HTTP commands against a switch serving HTTPS only: with the CA file each runs
/// whole and its own proof passes (coupons redeemed once, an ID-link file applied line by line,
/// a roster granted once each); without it, or trusting another CA, nothing gets through.
#[test]
fn loadtest_http_commands_speak_https_with_the_ca_file() {
    let files = tempfile::tempdir().unwrap();
    let pki = make_pki(files.path(), "municipal");
    let stranger = make_pki(files.path(), "stranger");
    let (cert, key) = (pki.cert.to_str().unwrap(), pki.key.to_str().unwrap());
    let https = [("SWITCH_HTTP__TLS_CERT_FILE", cert), ("SWITCH_HTTP__TLS_KEY_FILE", key)];
    let s = Server::start_with(200, &https, register_demo_setup);
    let addr = s.http.to_string();
    let trusted = Some(TlsClient::from_ca_file(&pki.ca, "localhost").unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let coupons = loadtest::CouponsConfig {
        citizens: 4,
        coupons: 60,
        concurrency: 4,
        per_request: 30,
        reuse_sample: 4,
        tls: trusted.clone(),
        ..loadtest::CouponsConfig::new(&addr)
    };
    let report = rt.block_on(loadtest::run_coupons(&coupons)).unwrap();
    assert_eq!((report.issued, report.ok, report.errors), (60, 60, 0), "{}", report.to_text());
    assert!(report.verification.passed, "{}", report.to_text());

    let migrate = loadtest::migrate_batch::MigrateConfig {
        tls: trusted.clone(),
        ..loadtest::migrate_batch::MigrateConfig::new(&addr, 200)
    };
    let report = rt.block_on(loadtest::migrate_batch::run_migrate(&migrate)).unwrap();
    assert!(report.verified(), "{}", report.to_text());
    assert_eq!((report.applied, report.errors), (200, 0));

    let grants = loadtest::grants::GrantsConfig { tls: trusted, ..loadtest::grants::GrantsConfig::new(&addr, 200) };
    let report = rt.block_on(loadtest::grants::run_grants(&grants)).unwrap();
    assert!(report.verified(), "{}", report.to_text());

    // Plain HTTP to the HTTPS port, or a CA that did not sign the switch's certificate: refused.
    let plain = loadtest::grants::GrantsConfig::new(&addr, 10);
    let refused = rt.block_on(loadtest::grants::run_grants(&plain)).unwrap_err();
    assert!(matches!(refused, loadtest::grants::GrantsError::Http(_)), "{refused}");
    let untrusting = loadtest::migrate_batch::MigrateConfig {
        tls: Some(TlsClient::from_ca_file(&stranger.ca, "localhost").unwrap()),
        ..loadtest::migrate_batch::MigrateConfig::new(&addr, 10)
    };
    let refused = rt.block_on(loadtest::migrate_batch::run_migrate(&untrusting)).unwrap_err();
    assert!(matches!(refused, loadtest::migrate_batch::MigrateError::Http(_)), "{refused}");
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}
