//! TLS for SMTP: the same trust for STARTTLS (done by lettre) and implicit
//! TLS (done by us, before lettre reads the greeting, on our own TCP stream;
//! see `smtp.rs`): the platform verifier plus the CA certificates of an
//! optional PEM file, with the crypto provider every connection uses.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::{AsyncTokioStream, Certificate, TlsParameters};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::permanent;
use super::smtp::Security;
use crate::notify::SendError;

/// What lettre needs for `STARTTLS`, or what we need for implicit TLS.
pub(super) type Setup = (Option<TlsParameters>, Option<Arc<rustls::ClientConfig>>);

/// The TLS set-up for `security` to `host`, trusting the CA certificates in
/// the PEM file `extra_ca` besides the platform's.
pub(super) fn setup(
    security: Security,
    host: &str,
    extra_ca: Option<&Path>,
) -> Result<Setup, SendError> {
    let extra_pem = match extra_ca {
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            permanent(format!(
                "{}: cannot read CA certificates: {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    let ca_error = |e: &dyn std::fmt::Display| {
        permanent(format!(
            "{}: not PEM CA certificates: {e}",
            extra_ca
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ))
    };
    Ok(match security {
        Security::Plain => (None, None),
        Security::StartTls => {
            let mut builder = TlsParameters::builder(host.to_string());
            if let Some(pem) = &extra_pem {
                // Added to the platform verifier's roots, not instead.
                let cert = Certificate::from_pem(pem).map_err(|e| ca_error(&e))?;
                builder = builder.add_root_certificate(cert);
            }
            let params = builder
                .build_rustls()
                .map_err(|e| permanent(format!("email: TLS setup: {e}")))?;
            (Some(params), None)
        }
        Security::Implicit => {
            let extra: Vec<CertificateDer<'static>> = match &extra_pem {
                Some(pem) => CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| ca_error(&e))?,
                None => Vec::new(),
            };
            (None, Some(client_config(extra)?))
        }
    })
}

/// rustls for implicit TLS, with the same trust as lettre's STARTTLS: the
/// platform verifier plus `extra` roots.
fn client_config(
    extra: Vec<CertificateDer<'static>>,
) -> Result<Arc<rustls::ClientConfig>, SendError> {
    let provider = crate::net::crypto_provider();
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, Arc::clone(&provider))
            .map_err(|e| permanent(format!("email: TLS setup: {e}")))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| permanent(format!("email: TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TLS stream lettre can use as if it were its own (its trait is foreign,
/// so tokio-rustls's stream needs a local wrapper).
#[derive(Debug)]
pub(super) struct TlsTcp(pub tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}
