//! A real headless Chromium (Debian's `chromium` package) driven over the DevTools protocol:
//! just enough WebSocket (RFC 6455) and CDP to open a page, evaluate an expression in it and
//! take a screenshot, with no crate beyond what the workspace already has. The browser runs in
//! real time (no virtual time), so a page that polls its server is seen doing so.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How to get a browser onto a Debian machine; printed when there is none.
pub const INSTALL_HINT: &str = "apt-get install -y chromium fonts-noto-cjk";
/// A file of Debian's `fonts-noto-cjk` (Japanese glyphs for the screenshots).
const CJK_FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

/// The Chromium to run: `$CHROMIUM`, else Debian's `/usr/bin/chromium`. Panics (the test
/// fails, it is never skipped) with how to install it when there is none.
pub fn executable() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "CHROMIUM={} does not exist; Debian's Chromium installs with: {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            if !Path::new(CJK_FONT).exists() {
                eprintln!("note: {CJK_FONT} is missing, so screenshots show no Japanese; {INSTALL_HINT}");
            }
            return candidate.into();
        }
    }
    panic!(
        "this test needs a headless Chromium and found none (looked at $CHROMIUM, /usr/bin/chromium, \
         /usr/bin/chromium-browser). Install it, with the Japanese fonts the page needs, as root:\n\n    {INSTALL_HINT}\n"
    );
}

/// A headless Chromium with a fresh profile, killed on drop.
pub struct Browser {
    child: Child,
    profile: tempfile::TempDir,
    ws_path: String,
    port: u16,
    size: (u32, u32),
}

impl Browser {
    /// Starts the browser for pages of `width` × `height` CSS pixels and waits for its DevTools
    /// port.
    pub fn launch(exe: &Path, (width, height): (u32, u32)) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(profile.path().join("chromium.log")).unwrap();
        let child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e} (install: {INSTALL_HINT})", exe.display()));
        let mut browser = Browser { child, profile, ws_path: String::new(), port: 0, size: (width, height) };
        // Chromium writes the port it chose and the browser's WebSocket path here.
        let active = browser.profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&active) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    browser.port = port.trim().parse().unwrap();
                    browser.ws_path = path.trim().to_string();
                    break;
                }
            }
            if let Ok(Some(status)) = browser.child.try_wait() {
                panic!("chromium exited at start ({status}):\n{}", browser.log_tail());
            }
            assert!(Instant::now() < deadline, "chromium did not open its DevTools port:\n{}", browser.log_tail());
            std::thread::sleep(Duration::from_millis(50));
        }
        browser
    }

    /// A new tab showing `url` (loaded), attached for commands.
    pub fn open(&self, url: &str) -> Page {
        let mut cdp = Cdp::connect(self.port, &self.ws_path);
        let target = cdp.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = cdp.call(None, "Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }));
        let session = attached["sessionId"].as_str().unwrap().to_string();
        let mut page = Page { cdp, session };
        page.call("Page.enable", json!({}));
        // The window includes some browser frame; the page itself gets exactly this size.
        let (width, height) = self.size;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600 }),
        );
        page.call("Page.navigate", json!({ "url": url }));
        let loaded = format!("document.readyState === 'complete' && location.href === {}", json!(url));
        page.wait_for(Duration::from_secs(60), &loaded, |v| *v == json!(true));
        page
    }

    /// The end of the browser's own log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.profile.path().join("chromium.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One tab.
pub struct Page {
    cdp: Cdp,
    session: String,
}

impl Page {
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.cdp.call(Some(&self.session), method, params)
    }

    /// Evaluates a JavaScript expression in the page; its value must be JSON-serialisable.
    pub fn eval(&mut self, expression: &str) -> Value {
        match self.try_eval(expression) {
            Ok(value) => value,
            Err(Evaluation::Navigating(e)) => panic!("evaluating in the page failed: it was navigating ({e})"),
            Err(Evaluation::Failed(e)) => panic!("evaluating in the page failed: {e}"),
        }
    }

    /// Evaluates `expression`, telling a page that was between documents (a form's submission or
    /// a redirect replacing it while the expression ran) from an expression that failed.
    fn try_eval(&mut self, expression: &str) -> Result<Value, Evaluation> {
        let params = json!({ "expression": expression, "returnByValue": true });
        let r = self.cdp.try_call(Some(&self.session), "Runtime.evaluate", params).map_err(|e| {
            if is_navigation_error(&e) {
                Evaluation::Navigating(e)
            } else {
                Evaluation::Failed(e)
            }
        })?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(if is_navigation_error(e) {
                Evaluation::Navigating(e.clone())
            } else {
                Evaluation::Failed(e.clone())
            });
        }
        Ok(r["result"]["value"].clone())
    }

    /// Evaluates `expression` every 250 ms until `done` accepts its value; panics with the last
    /// value after `timeout`. While the page is between documents (the old one closing, the
    /// new one not yet there) DevTools refuses to evaluate ("Inspected target navigated or
    /// closed"): that is the page not being there yet, so the wait goes on.
    pub fn wait_for(&mut self, timeout: Duration, expression: &str, mut done: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = match self.try_eval(expression) {
                Ok(value) if done(&value) => return value,
                Ok(value) => value,
                Err(Evaluation::Navigating(e)) => json!({ "navigating": e }),
                Err(Evaluation::Failed(e)) => panic!("evaluating in the page failed: {e}"),
            };
            assert!(
                Instant::now() < deadline,
                "the page did not reach the expected state in {timeout:?}; last:\n{value:#}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Goes to `url` and waits until the page (after any redirects) has loaded.
    pub fn navigate(&mut self, url: &str) {
        self.eval("window.__beforeNavigation = true; true");
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_loaded();
    }

    /// Clicks the element `selector` names (a submit button, a link) and waits for the next
    /// page to load.
    pub fn click_and_wait(&mut self, selector: &str) {
        self.eval("window.__beforeNavigation = true; true");
        let found = self.eval(&format!(
            "(() => {{ const e = document.querySelector({0}); if (!e) return false; e.click(); return true; }})()",
            json!(selector)
        ));
        assert_eq!(found, json!(true), "no element {selector} on {}", self.eval("location.href"));
        self.wait_loaded();
    }

    /// Sets the value of the form field `selector` names, as typing would.
    pub fn fill(&mut self, selector: &str, value: &str) {
        let done = self.eval(&format!(
            "(() => {{ const e = document.querySelector({0}); if (!e) return false; e.value = {1}; \
             e.dispatchEvent(new Event('input', {{ bubbles: true }})); return true; }})()",
            json!(selector),
            json!(value)
        ));
        assert_eq!(done, json!(true), "no field {selector} on {}", self.eval("location.href"));
    }

    /// The text of the element `selector` names (None when there is none).
    pub fn text(&mut self, selector: &str) -> Option<String> {
        let v = self.eval(&format!("document.querySelector({0})?.textContent ?? null", json!(selector)));
        v.as_str().map(str::to_owned)
    }

    /// The page's URL.
    pub fn url(&mut self) -> String {
        self.eval("location.href").as_str().unwrap_or_default().to_owned()
    }

    fn wait_loaded(&mut self) {
        let loaded = "typeof window.__beforeNavigation === 'undefined' && document.readyState === 'complete'";
        self.wait_for(Duration::from_secs(60), loaded, |v| *v == json!(true));
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        base64_decode(r["data"].as_str().expect("screenshot data"))
    }
}

/// Why an evaluation gave no value.
enum Evaluation {
    /// The page was replaced while the expression ran (or before it could).
    Navigating(Value),
    /// The expression threw, or DevTools refused it for another reason.
    Failed(Value),
}

/// DevTools' answers when the document an evaluation was meant for went away: the target
/// navigated, or the JavaScript context was destroyed or not yet created.
fn is_navigation_error(error: &Value) -> bool {
    let text = error.to_string();
    ["Inspected target navigated or closed", "Execution context was destroyed", "Cannot find context with specified id"]
        .iter()
        .any(|m| text.contains(m))
}

/// A DevTools protocol connection (one WebSocket to the browser; tabs as flat sessions).
struct Cdp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
}

impl Cdp {
    fn connect(port: u16, path: &str) -> Cdp {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut writer = stream.try_clone().unwrap();
        write!(
            writer,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 101 "), "DevTools refused the WebSocket: {status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Cdp { reader, writer, next_id: 1 }
    }

    /// Sends a command and waits for its answer, skipping events; panics on an error answer.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_call(session, method, params).unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    /// Sends a command and waits for its answer (the result, or DevTools' error object).
    fn try_call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        self.send(0x1, message.to_string().as_bytes());
        loop {
            let answer: Value = serde_json::from_slice(&self.receive()).unwrap();
            if answer["id"].as_u64() == Some(id) {
                if let Some(e) = answer.get("error") {
                    return Err(e.clone());
                }
                return Ok(answer["result"].clone());
            }
        }
    }

    /// One frame from the client: FIN, the opcode, masked (RFC 6455 §5.3).
    fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.writer.write_all(&frame).unwrap();
    }

    /// One whole message from the server (unmasked frames, possibly fragmented); answers pings.
    fn receive(&mut self) -> Vec<u8> {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.reader.read_exact(&mut head).unwrap();
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0F);
            let len = match head[1] & 0x7F {
                126 => {
                    let mut b = [0u8; 2];
                    self.reader.read_exact(&mut b).unwrap();
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.reader.read_exact(&mut b).unwrap();
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            self.reader.read_exact(&mut payload).unwrap();
            match opcode {
                0x8 => panic!("DevTools closed the connection"),
                0x9 => self.send(0xA, &payload),
                0xA => {}
                _ => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return message;
                    }
                }
            }
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn a_page_between_documents_is_told_from_a_failed_expression() {
    // DevTools' answers to Runtime.evaluate while a form's submission replaces the page.
    assert!(is_navigation_error(&json!({"code": -32000, "message": "Inspected target navigated or closed"})));
    assert!(is_navigation_error(&json!({"code": -32000, "message": "Execution context was destroyed."})));
    assert!(is_navigation_error(&json!({"code": -32000, "message": "Cannot find context with specified id"})));
    // An expression that threw is a failure of the test, never waited out.
    let thrown = json!({"exceptionId": 1, "text": "Uncaught", "exception": {"description": "TypeError: x is null"}});
    assert!(!is_navigation_error(&thrown));
}

#[test]
fn base64_round_trip() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGVsbG8hIQ=="), b"hello!!");
    assert_eq!(base64_decode("YWJj"), b"abc");
}

/// What the web screens' tests ask of a page (the consoles and the my page mark a wrong field
/// with `aria-invalid` and a refusal with a banner carrying the problem's code).
impl Page {
    /// The names (or ids) of the fields marked wrong, in page order.
    pub fn invalid_fields(&mut self) -> Vec<String> {
        let v = self.eval("[...document.querySelectorAll('[aria-invalid=true]')].map(e => e.name || e.id)");
        v.as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()).collect()
    }

    /// The problem code of the error banner, if one is shown.
    pub fn banner_code(&mut self) -> Option<String> {
        self.eval("document.querySelector('.alert.error')?.dataset.code ?? null").as_str().map(str::to_owned)
    }

    /// Puts `file` into the file input `selector`, as a user choosing it would.
    pub fn choose_file(&mut self, selector: &str, file: &Path) {
        let document = self.call("DOM.getDocument", json!({}));
        let root = document["root"]["nodeId"].as_i64().unwrap();
        let node = self.call("DOM.querySelector", json!({"nodeId": root, "selector": selector}));
        let node = node["nodeId"].as_i64().filter(|n| *n != 0).unwrap_or_else(|| panic!("no {selector}"));
        self.call("DOM.setFileInputFiles", json!({"nodeId": node, "files": [file.to_str().unwrap()]}));
    }
}

/// The bytes of a download once the browser has written them (30 s at most).
pub fn wait_for_file(path: &Path) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(bytes) = std::fs::read(path) {
            if !bytes.is_empty() {
                return bytes;
            }
        }
        assert!(Instant::now() < deadline, "no download at {}", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}
