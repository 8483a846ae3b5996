//! TLS for the terminal port and HTTP (rustls with the ring provider).
//!
//! The terminal port speaks TLS unless the configuration says `terminal.plain_tcp = true`: a
//! switch given neither a certificate nor that setting refuses to start, so a production node
//! cannot end up serving terminals in the clear by omission. HTTP speaks TLS when
//! `http.tls_cert_file` is set (otherwise a TLS proxy in front does it, or it is loopback).
//! Certificates and keys are PEM files: the certificate file holds the chain, leaf first; the
//! key file one PKCS#8, PKCS#1 or SEC1 private key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// What a listener speaks.
#[derive(Clone)]
pub enum Transport {
    Plain,
    Tls(Arc<ServerConfig>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Plain => "plain",
            Transport::Tls(_) => "tls",
        })
    }
}

impl Transport {
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Plain => "plain",
            Transport::Tls(_) => "tls",
        }
    }
}

/// Why a listener's TLS could not be set up; each names the setting or file to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error(
        "the terminal port needs TLS: set terminal.tls_cert_file and terminal.tls_key_file (PEM), or \
         terminal.plain_tcp = true to serve plain TCP (only on a closed network or loopback)"
    )]
    TerminalNeedsTls,
    #[error("{section}.tls_cert_file and {section}.tls_key_file go together: set both or neither")]
    HalfConfigured { section: &'static str },
    #[error("terminal.plain_tcp = true and terminal.tls_cert_file are both set: choose one")]
    PlainAndTls,
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{} holds no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the certificate and key are not usable together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The terminal port's transport from its settings (see the module's rules).
pub fn terminal_transport(
    cert: Option<&Path>,
    key: Option<&Path>,
    plain_tcp: bool,
) -> Result<Transport, TlsSetupError> {
    match (cert, key, plain_tcp) {
        (None, None, true) => Ok(Transport::Plain),
        (None, None, false) => Err(TlsSetupError::TerminalNeedsTls),
        (Some(_), _, true) | (_, Some(_), true) => Err(TlsSetupError::PlainAndTls),
        (Some(cert), Some(key), false) => Ok(Transport::Tls(server_config(cert, key)?)),
        _ => Err(TlsSetupError::HalfConfigured { section: "terminal" }),
    }
}

/// HTTP's TLS settings, when both files are set.
pub fn http_tls(cert: Option<&Path>, key: Option<&Path>) -> Result<Option<ServerConfig>, TlsSetupError> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let mut config = Arc::unwrap_or_clone(server_config(cert, key)?);
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Some(config))
        }
        _ => Err(TlsSetupError::HalfConfigured { section: "http" }),
    }
}

/// A server configuration from a PEM certificate chain and private key: TLS 1.2 and 1.3 with
/// rustls's safe defaults, no client certificates.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsSetupError> {
    fn read<'p>(what: &'static str, path: &'p Path) -> impl Fn(rustls::pki_types::pem::Error) -> TlsSetupError + 'p {
        move |source| TlsSetupError::Read { what, path: path.to_owned(), source }
    }
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(read("certificate file", cert_file))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read("certificate file", cert_file))?;
    if chain.is_empty() {
        return Err(TlsSetupError::NoCertificate { path: cert_file.to_owned() });
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(read("key file", key_file))?;
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_terminal_port_needs_tls_or_an_explicit_plain_setting() {
        assert!(matches!(terminal_transport(None, None, false), Err(TlsSetupError::TerminalNeedsTls)));
        assert!(matches!(terminal_transport(None, None, true), Ok(Transport::Plain)));
        let p = Path::new("/nonexistent.pem");
        assert!(matches!(terminal_transport(Some(p), None, false), Err(TlsSetupError::HalfConfigured { .. })));
        assert!(matches!(terminal_transport(Some(p), Some(p), true), Err(TlsSetupError::PlainAndTls)));
        assert!(matches!(http_tls(None, Some(p)), Err(TlsSetupError::HalfConfigured { section: "http" })));
        assert!(matches!(http_tls(None, None), Ok(None)));
        let missing = terminal_transport(Some(p), Some(p), false).unwrap_err().to_string();
        assert!(missing.contains("/nonexistent.pem"), "{missing}");
    }
}
