//! TLS: the server configuration for `https`/`wss` serving (rustls with the ring provider) and
//! the client configurations that verify certificates against the platform's roots plus an
//! optional extra CA.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::SecurityError;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and private key to serve `https` and `wss` with.
#[derive(Clone)]
pub struct TlsServerConfig {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsServerConfig(..)")
    }
}

impl TlsServerConfig {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1) from files.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, SecurityError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let cert_pem = std::fs::read(cert).map_err(|e| {
            SecurityError::Tls(format!(
                "cannot read certificate file {}: {e}",
                cert.display()
            ))
        })?;
        let key_pem = std::fs::read(key).map_err(|e| {
            SecurityError::Tls(format!(
                "cannot read key file {}: {}",
                key.display(),
                e.kind()
            ))
        })?;
        Self::from_pem(&cert_pem, &key_pem)
    }

    /// Reads a PEM certificate chain and a PEM private key from memory.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, SecurityError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|_| SecurityError::Tls("the certificate file is not PEM".into()))?;
        if chain.is_empty() {
            return Err(SecurityError::Tls(
                "the certificate file holds no certificate".into(),
            ));
        }
        // The key's parse error is not shown: it could quote key material.
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|_| SecurityError::Tls("the key file holds no usable private key".into()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| SecurityError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|_| {
                SecurityError::Tls("the private key does not fit the certificate".into())
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsServerConfig {
            config: Arc::new(config),
        })
    }
}

fn extra_roots(pem: Option<&str>) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let Some(pem) = pem else {
        return Ok(Vec::new());
    };
    let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|_| SecurityError::Tls("the extra CA is not PEM".into()))?;
    if roots.is_empty() {
        return Err(SecurityError::Tls(
            "the extra CA file holds no certificate".into(),
        ));
    }
    Ok(roots)
}

/// A rustls client configuration that verifies servers against the platform's roots and
/// `extra_ca_pem` (one or more PEM certificates).
pub fn client_tls_config(
    extra_ca_pem: Option<&str>,
) -> Result<Arc<rustls::ClientConfig>, SecurityError> {
    let roots = extra_roots(extra_ca_pem)?;
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider())
        .map_err(|e| SecurityError::Tls(format!("cannot load the trusted roots: {e}")))?;
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| SecurityError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Adds `extra_ca_pem` to a reqwest client's trusted roots.
pub(crate) fn trust_extra_ca(
    builder: reqwest::ClientBuilder,
    extra_ca_pem: Option<&str>,
) -> Result<reqwest::ClientBuilder, SecurityError> {
    let Some(pem) = extra_ca_pem else {
        return Ok(builder);
    };
    extra_roots(Some(pem))?;
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        .map_err(|_| SecurityError::Tls("the extra CA is not PEM".into()))?;
    Ok(certs
        .into_iter()
        .fold(builder, |builder, cert| builder.add_root_certificate(cert)))
}

/// A plain reqwest client (token endpoints, JWKS, introspection) trusting `extra_ca_pem` too.
pub(crate) fn http_client(extra_ca_pem: Option<&str>) -> Result<reqwest::Client, SecurityError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder()
        .user_agent(concat!("lmos/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(30));
    trust_extra_ca(builder, extra_ca_pem)?
        .build()
        .map_err(|e| SecurityError::Tls(e.to_string()))
}

/// Serves `app` over TLS on `listener` until `stop` completes; open connections are asked to
/// finish (HTTP/1.1 graceful shutdown) and dropped after a grace period.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    tls: TlsServerConfig,
    app: axum::Router,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    let (closing, _) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut stop = stop;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let service = TowerToHyperService::new(app.clone());
                let mut closing = closing.subscribe();
                connections.spawn(async move {
                    // A handshake that fails (unknown CA on the client side, plain HTTP) just
                    // ends the connection.
                    let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
                    let Ok(Ok(stream)) = handshake.await else { return };
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    let mut connection = std::pin::pin!(connection);
                    tokio::select! {
                        _ = connection.as_mut() => return,
                        _ = closing.wait_for(|c| *c) => {}
                    }
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = &mut stop => break,
        }
    }
    drop(listener);
    closing.send_replace(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
}
