//! TLS towards the switch's terminal port and its HTTPS (rustls with the ring provider): the switch's
//! certificate is checked against a CA file the operator hands out with the terminals, and
//! against the name the terminal dials (the host of `--addr`, or `--tls-name`).

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How a client speaks TLS: whom it trusts and which name it expects.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsClientError {
    #[error("cannot read the CA file {path}: {source}")]
    CaFile { path: String, source: rustls::pki_types::pem::Error },
    #[error("the CA file {path} holds no usable certificate")]
    NoCa { path: String },
    #[error("{0:?} is not a host name or IP address to check the switch's certificate against")]
    BadName(String),
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

impl TlsClient {
    /// Trusts the certificates of the PEM file `ca_file`; expects the switch to prove `server_name`.
    pub fn from_ca_file(ca_file: &Path, server_name: &str) -> Result<TlsClient, TlsClientError> {
        let path = ca_file.display().to_string();
        let certs = CertificateDer::pem_file_iter(ca_file)
            .map_err(|source| TlsClientError::CaFile { path: path.clone(), source })?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsClientError::CaFile { path: path.clone(), source })?;
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TlsClientError::NoCa { path });
        }
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsClientError::BadName(server_name.to_owned()))?;
        let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient { connector: TlsConnector::from(Arc::new(config)), server_name })
    }

    /// The handshake on a connected socket.
    pub async fn handshake(&self, tcp: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}

/// The command line's TLS options, shared by `terminal` and every `loadtest` command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Speak TLS to the switch, trusting the CA certificate(s) in this PEM file: its terminal
    /// port (which needs TLS unless configured with terminal.plain_tcp), or its HTTPS for the
    /// HTTP commands (when http.tls_cert_file is set).
    #[arg(long, value_name = "CA.pem")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// The name the switch's certificate must carry [default: the host of --addr].
    #[arg(long, value_name = "NAME", requires = "tls_ca")]
    pub tls_name: Option<String>,
}

impl TlsArgs {
    /// TLS settings for a switch at `addr`, or None for plain TCP.
    pub fn client(&self, addr: &str) -> Result<Option<TlsClient>, TlsClientError> {
        let Some(ca) = &self.tls_ca else { return Ok(None) };
        let name = self.tls_name.as_deref().unwrap_or_else(|| host_of(addr));
        TlsClient::from_ca_file(ca, name).map(Some)
    }
}

/// The host part of `host:port`, `[v6]:port` or a bare host: the name a certificate is checked
/// against when no other is given.
pub fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_what_comes_before_the_port() {
        assert_eq!(host_of("127.0.0.1:7700"), "127.0.0.1");
        assert_eq!(host_of("switch.example.lg.jp:7700"), "switch.example.lg.jp");
        assert_eq!(host_of("[::1]:7700"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
        assert_eq!(host_of("::1"), "::1");
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let missing = TlsClient::from_ca_file(Path::new("/nonexistent/ca.pem"), "localhost").unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/ca.pem"), "{missing}");
        let empty = tempfile::NamedTempFile::new().unwrap();
        let none = TlsClient::from_ca_file(empty.path(), "localhost").unwrap_err();
        assert!(matches!(none, TlsClientError::NoCa { .. }), "{none}");
    }
}
