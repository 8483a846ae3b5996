//! A small HTTP/1.1 client for the switch's JSON API: one keep-alive connection, one request at
//! a time, bodies by `Content-Length` or chunked, plain or over TLS (the switch's HTTPS, with
//! the same CA file and name check as the terminal port: [`crate::tls`]). Enough for load
//! against `switch demo` without a general-purpose HTTP stack; nothing here follows redirects.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::tls::TlsClient;

/// Longest response head accepted.
const HEAD_MAX_BYTES: usize = 64 * 1024;
/// Largest response body accepted (a CSV of 100,000 coupons is about 10 MB).
const BODY_MAX_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    #[error("connection closed before the response was complete")]
    Closed,
    #[error("no answer from {0} in time")]
    Timeout(String),
}

/// A response: status, headers (names in lower case) and the whole body.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The byte stream under a connection: plain TCP or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// One connection to `addr` (TLS when `tls` is set), reopened when the server closed it.
pub struct HttpClient {
    addr: String,
    tls: Option<TlsClient>,
    connection: Option<Connection<Box<dyn Stream>>>,
}

impl HttpClient {
    pub fn new(addr: impl Into<String>, tls: Option<TlsClient>) -> HttpClient {
        HttpClient { addr: addr.into(), tls, connection: None }
    }

    /// Sends one request and reads its response. After any error the connection is dropped
    /// and the next request opens a new one; whether to resend is the caller's decision.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<HttpReply, HttpError> {
        let connection = match self.connection.as_mut() {
            Some(c) => c,
            None => {
                let tcp = TcpStream::connect(&self.addr).await?;
                tcp.set_nodelay(true)?;
                let stream: Box<dyn Stream> = match &self.tls {
                    Some(tls) => Box::new(tls.handshake(tcp).await?),
                    None => Box::new(tcp),
                };
                self.connection.insert(Connection::new(stream))
            }
        };
        let result = connection.exchange(method, path, headers, body).await;
        match &result {
            Ok(reply) if !reply.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) => {}
            _ => self.connection = None,
        }
        result
    }

    /// A JSON request with an optional bearer token.
    pub async fn json(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<HttpReply, HttpError> {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        let bytes = body.map(|b| b.to_string().into_bytes());
        if bytes.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        self.send(method, path, &headers, bytes.as_deref()).await
    }
}

/// One request on a connection of its own (TLS when `tls` is set), given up after `timeout`.
pub async fn request(
    addr: &str,
    tls: Option<&TlsClient>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: std::time::Duration,
) -> Result<HttpReply, HttpError> {
    let mut client = HttpClient::new(addr, tls.cloned());
    tokio::time::timeout(timeout, client.send(method, path, headers, Some(body)))
        .await
        .map_err(|_| HttpError::Timeout(addr.to_owned()))?
}

/// A keep-alive HTTP/1.1 connection over any byte stream.
pub struct Connection<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S) -> Connection<S> {
        Connection { stream: BufReader::new(stream) }
    }

    pub async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<HttpReply, HttpError> {
        let body = body.unwrap_or_default();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: switch\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.stream.get_mut().write_all(&request).await?;
        self.read_reply(method == "HEAD").await
    }

    async fn read_reply(&mut self, head_only: bool) -> Result<HttpReply, HttpError> {
        let mut head = Vec::new();
        loop {
            let before = head.len();
            let n = self.stream.read_until(b'\n', &mut head).await?;
            if n == 0 {
                return Err(HttpError::Closed);
            }
            if head.len() > HEAD_MAX_BYTES {
                return Err(HttpError::Malformed("head too long"));
            }
            let line = &head[before..];
            if line == b"\r\n" || line == b"\n" {
                break;
            }
        }
        let (status, headers) = parse_head(&head)?;
        let mut reply = HttpReply { status, headers, body: Vec::new() };
        let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
        if no_body {
            return Ok(reply);
        }
        let chunked = reply.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            reply.body = self.read_chunked().await?;
        } else if let Some(length) = reply.header("content-length") {
            let length: usize = length.trim().parse().map_err(|_| HttpError::Malformed("content-length"))?;
            if length > BODY_MAX_BYTES {
                return Err(HttpError::Malformed("body too large"));
            }
            reply.body = vec![0; length];
            self.stream.read_exact(&mut reply.body).await.map_err(|_| HttpError::Closed)?;
        } else {
            // No length: the body runs to the end of the connection.
            (&mut self.stream).take(BODY_MAX_BYTES as u64).read_to_end(&mut reply.body).await?;
            reply.headers.push(("connection".into(), "close".into()));
        }
        Ok(reply)
    }

    async fn read_chunked(&mut self) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        loop {
            let mut line = Vec::new();
            if self.stream.read_until(b'\n', &mut line).await? == 0 {
                return Err(HttpError::Closed);
            }
            let text = std::str::from_utf8(&line).map_err(|_| HttpError::Malformed("chunk size"))?;
            let size_text = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| HttpError::Malformed("chunk size"))?;
            if body.len() + size > BODY_MAX_BYTES {
                return Err(HttpError::Malformed("body too large"));
            }
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    if self.stream.read_until(b'\n', &mut line).await? == 0 || line == b"\r\n" || line == b"\n" {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.stream.read_exact(&mut body[start..]).await.map_err(|_| HttpError::Closed)?;
            let mut crlf = [0u8; 2];
            self.stream.read_exact(&mut crlf).await.map_err(|_| HttpError::Closed)?;
        }
    }
}

/// The status code and headers of a response head (status line, header lines, empty line).
pub fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), HttpError> {
    let text = std::str::from_utf8(head).map_err(|_| HttpError::Malformed("head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let status_line = lines.next().ok_or(HttpError::Malformed("no status line"))?;
    let mut parts = status_line.split_whitespace();
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(HttpError::Malformed("not HTTP/1.x"));
    }
    let status = parts.next().and_then(|s| s.parse().ok()).ok_or(HttpError::Malformed("status code"))?;
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').ok_or(HttpError::Malformed("header line"))?;
            Ok((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect::<Result<_, HttpError>>()?;
    Ok((status, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection whose peer already wrote `response`; answers the exchange.
    async fn exchange_with(response: &[u8]) -> Result<HttpReply, HttpError> {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        server.write_all(response).await.unwrap();
        drop(server.shutdown().await);
        let mut c = Connection::new(client);
        c.exchange("GET", "/x", &[], None).await
    }

    #[tokio::test]
    async fn bodies_by_length_and_by_chunks_are_read_whole() {
        let r = exchange_with(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello").await.unwrap();
        assert_eq!((r.status, r.body.as_slice(), r.header("x-a")), (200, &b"hello"[..], Some("b")));
        let r = exchange_with(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"abcde"[..]));
        let r = exchange_with(b"HTTP/1.1 204 No Content\r\n\r\n").await.unwrap();
        assert!(r.body.is_empty());
    }

    #[tokio::test]
    async fn a_cut_or_garbled_response_is_an_error_not_a_panic() {
        assert!(matches!(exchange_with(b"").await, Err(HttpError::Closed)));
        assert!(matches!(
            exchange_with(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").await,
            Err(HttpError::Closed)
        ));
        assert!(matches!(exchange_with(b"SMTP 220 hi\r\n\r\n").await, Err(HttpError::Malformed(_))));
        assert!(matches!(
            exchange_with(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").await,
            Err(HttpError::Malformed("content-length"))
        ));
        assert!(matches!(
            exchange_with(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").await,
            Err(HttpError::Malformed("chunk size"))
        ));
    }

    #[test]
    fn heads_parse_into_status_and_lower_case_headers() {
        let (status, headers) = parse_head(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 60\r\n\r\n").unwrap();
        assert_eq!((status, headers), (429, vec![("retry-after".to_owned(), "60".to_owned())]));
    }
}
