//! Email notifications: one message per subscriber and delivery, built with
//! lettre from the `email/<language>/` templates (`message.rs`, with the
//! list headers of `headers.rs`), and the two ways to send it: an outbox
//! folder of `.eml` files (`file.rs`, `transport = "file"`) or SMTP
//! (`smtp.rs`, TLS in `tls.rs`). With DKIM configured, the sender signs
//! each message just before it leaves (`dkim.rs`).
//!
//! A message's `Message-ID` is derived from its outbox row, so a resend
//! after a crash carries the same id and a receiver (or the file outbox,
//! which names files after it) can drop the duplicate. Every message is a
//! list message: `List-Id`, and with an unsubscribe URL configured,
//! `List-Unsubscribe` plus RFC 8058 one-click unsubscribe.

mod dkim;
mod file;
mod headers;
mod links;
mod message;
mod smtp;
mod tls;

use std::path::{Path, PathBuf};

use lettre::Message;

pub use links::Links;
pub use message::{build_message, message_id, unsubscribe_token, unsubscribe_url};

use crate::config::subscribers::{EmailConfig, EmailTransport};
use crate::notify::SendError;
use crate::templates::TemplateError;
use dkim::Signer;
use smtp::Smtp;

/// Environment variable naming a PEM file of extra CA certificates to trust
/// for SMTP, besides the platform's (a private relay with its own CA).
pub const CA_FILE_ENV: &str = "POSTBODE_SMTP_CA_FILE";

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{field}: {value:?} is not an email address: {source}")]
    Address {
        field: &'static str,
        value: String,
        source: lettre::address::AddressError,
    },
    #[error("a message needs at least one post")]
    NoPosts,
    #[error("subscriber {0} has no email address")]
    NotEmail(String),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("cannot build the message: the parts have no Content-Type")]
    NoContentType,
}

/// Sends built messages: to the outbox folder, or over one SMTP connection
/// that is opened by `connect`, reused by every `send` and closed by `close`
/// (the dispatcher keeps several `Mailer`s to send in parallel).
pub struct Mailer {
    inner: Inner,
    signer: Option<Signer>,
}

enum Inner {
    File { dir: PathBuf },
    Smtp(Box<Smtp>),
}

impl Mailer {
    /// Opens the configured transport. Secrets are read through `env`
    /// (the SMTP login, the DKIM key from `dkim_key_env`, and extra CAs
    /// from `POSTBODE_SMTP_CA_FILE`).
    pub async fn connect(
        cfg: &EmailConfig,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Mailer, SendError> {
        let ca = env(CA_FILE_ENV).map(PathBuf::from);
        Self::connect_with(cfg, env, ca.as_deref()).await
    }

    /// `connect`, trusting the CA certificates in the PEM file `extra_ca`
    /// besides the platform's.
    pub async fn connect_with(
        cfg: &EmailConfig,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        extra_ca: Option<&Path>,
    ) -> Result<Mailer, SendError> {
        // Before connecting: a key that cannot sign is a failure to connect
        // (permanent), so the run sends no unsigned mail and says why.
        let signer = Signer::load(cfg, env)?;
        let inner = match cfg.transport {
            EmailTransport::File => {
                tokio::fs::create_dir_all(&cfg.outbox).await.map_err(|e| {
                    transient(format!(
                        "{}: cannot create the outbox: {e}",
                        cfg.outbox.display()
                    ))
                })?;
                Inner::File {
                    dir: cfg.outbox.clone(),
                }
            }
            EmailTransport::Smtp => Inner::Smtp(Box::new(Smtp::connect(cfg, env, extra_ca).await?)),
        };
        Ok(Mailer { inner, signer })
    }

    /// Sends `msg` to `envelope_to` (SMTP `RCPT TO`; the file outbox keeps
    /// the message as sent, named after its `Message-ID`), DKIM-signed when
    /// configured.
    pub async fn send(&mut self, msg: &Message, envelope_to: &str) -> Result<(), SendError> {
        let signed = self.signer.as_ref().map(|s| s.sign(msg));
        let msg = signed.as_ref().unwrap_or(msg);
        match &mut self.inner {
            Inner::File { dir } => file::write_eml(dir, msg).await,
            Inner::Smtp(smtp) => smtp.send(msg, envelope_to).await,
        }
    }

    /// Says goodbye to the SMTP server (`QUIT`); best effort.
    pub async fn close(self) {
        if let Inner::Smtp(smtp) = self.inner {
            smtp.quit().await;
        }
    }
}

pub(super) fn transient(reason: String) -> SendError {
    SendError::Transient {
        reason,
        retry_after: None,
    }
}

pub(super) fn permanent(reason: String) -> SendError {
    SendError::Permanent { reason }
}
