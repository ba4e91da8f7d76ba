//! `[email]`: who the messages are from and how they leave (an SMTP server or
//! `.eml` files in a folder). Addresses and the server URL are checked while
//! the feed definition is read, so a typo is an error with its line and
//! column instead of a failed delivery later; the full `smtp_url` options are
//! read by the sender. DKIM signing has its own module (`dkim`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, de::Error as _};
use toml::Spanned;

use super::dkim::{self, DkimSettings, RawDkim};
use super::error::Located;
use crate::diag::redact_url;
use crate::paths::normalize_path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    Smtp,
    #[default]
    File,
}

/// `[email]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an [email] table (from = \"Blog <noreply@example.org>\", transport = \"smtp\" or \"file\")"
)]
pub struct RawEmail {
    #[serde(deserialize_with = "mailbox")]
    pub from: String,
    #[serde(default)]
    pub transport: EmailTransport,
    #[serde(default, deserialize_with = "smtp_url")]
    pub smtp_url: Option<String>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub outbox: Option<PathBuf>,
    #[serde(default, deserialize_with = "optional_mailbox")]
    pub reply_to: Option<String>,
    pub unsubscribe_url: Option<String>,
    #[serde(default, deserialize_with = "dkim::selector")]
    pub dkim_selector: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "dkim::domain")]
    pub dkim_domain: Option<Spanned<String>>,
    pub dkim_key_file: Option<Spanned<PathBuf>>,
    pub dkim_key_env: Option<Spanned<String>>,
}

/// Email settings with paths resolved.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub from: String,
    pub transport: EmailTransport,
    pub smtp_url: Option<String>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub outbox: PathBuf,
    pub reply_to: Option<String>,
    /// With `{subscriber}` and `{token}` placeholders.
    pub unsubscribe_url: Option<String>,
    /// DKIM signing of every message; `None` sends unsigned mail.
    pub dkim: Option<DkimSettings>,
}

impl EmailConfig {
    /// `base` is the definition's folder (relative paths are read from
    /// there); `project` the folder of the defaults (`outbox/`); `text` the
    /// definition, which places an error in the DKIM keys.
    pub(super) fn from_raw(
        raw: RawEmail,
        base: &Path,
        project: &Path,
        text: &str,
    ) -> Result<EmailConfig, Located> {
        let dkim = RawDkim {
            selector: raw.dkim_selector,
            domain: raw.dkim_domain,
            key_file: raw.dkim_key_file,
            key_env: raw.dkim_key_env,
        }
        .resolve(text, base)?;
        let outbox = match raw.outbox {
            Some(p) if p.is_absolute() => normalize_path(&p),
            Some(p) => normalize_path(&base.join(p)),
            None => project.join("outbox"),
        };
        Ok(EmailConfig {
            from: raw.from,
            transport: raw.transport,
            smtp_url: raw.smtp_url,
            username_env: raw.username_env,
            password_env: raw.password_env,
            outbox,
            reply_to: raw.reply_to,
            unsubscribe_url: raw.unsubscribe_url,
            dkim,
        })
    }
}

/// `Name <address@example.org>` or a bare address, as lettre will read it
/// when the message is built.
fn mailbox<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    match text.parse::<lettre::message::Mailbox>() {
        Ok(_) => Ok(text),
        Err(_) => Err(D::Error::custom(format!(
            "{text:?} is not an email address (write \"Name <address@example.org>\" or \"address@example.org\")"
        ))),
    }
}

fn optional_mailbox<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    mailbox(d).map(Some)
}

/// `smtp://host[:port][?tls=required]` or `smtps://host[:port]`, checked
/// as the sender reads it ([`parse_smtp_url`]).
fn smtp_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    parse_smtp_url(&text).map_err(D::Error::custom)?;
    Ok(Some(text))
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: no TLS (a local relay). Port 25 by default.
    Plain,
    /// `smtp://…?tls=required`: STARTTLS, or no connection. Port 587.
    StartTls,
    /// `smtps://`: TLS from the first byte (RFC 8314). Port 465.
    Implicit,
}

/// Host, port and security of an `smtp_url`; the error is a sentence with
/// the fix. The one reading of the URL: the feed definition checks it with
/// this, and the sender connects with it.
pub fn parse_smtp_url(text: &str) -> Result<(String, u16, SmtpSecurity), String> {
    let shown = redact_url(text);
    if !text.contains("://") {
        // `127.0.0.1:8025` is no URL, and `localhost:8025` one with the
        // scheme `localhost`.
        return Err(format!(
            "{shown:?} has no scheme: write \"smtp://{shown}\" (STARTTLS: add ?tls=required; implicit TLS: smtps://)"
        ));
    }
    let url = url::Url::parse(text).map_err(|e| format!("{shown:?} is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        // The file is often in a repository: the login comes from the
        // environment instead.
        return Err(
            "must not hold a login; name environment variables in username_env and password_env"
                .into(),
        );
    }
    let mut security = match url.scheme() {
        "smtp" => SmtpSecurity::Plain,
        "smtps" => SmtpSecurity::Implicit,
        other => {
            let near = super::error::closest(other, ["smtp", "smtps"].into_iter())
                .map(|n| format!(" (did you mean {n}://?)"))
                .unwrap_or_default();
            return Err(format!(
                "{shown:?}: scheme {other}: is not smtp: or smtps:{near}; write smtp://host (STARTTLS: ?tls=required) or smtps://host (implicit TLS)"
            ));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            format!("{shown:?} has no host: write smtp://mail.example.org:587?tls=required")
        })?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref(), security) {
            ("tls", "required", SmtpSecurity::Plain) => security = SmtpSecurity::StartTls,
            ("tls", "required", SmtpSecurity::Implicit) => {
                return Err(format!(
                    "{shown:?}: unknown option tls=required with smtps: (smtps:// is TLS from the first byte already; drop ?tls=required, or use smtp:// for STARTTLS)"
                ));
            }
            _ => {
                return Err(format!(
                    "{shown:?}: unknown option {key}={value} (the only option is tls=required, for STARTTLS with smtp://)"
                ));
            }
        }
    }
    if !matches!(url.path(), "" | "/") {
        return Err(format!("{shown:?} has a path: write only smtp://host:port"));
    }
    let port = url.port().unwrap_or(match security {
        SmtpSecurity::Plain => 25,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Implicit => 465,
    });
    Ok((host, port, security))
}
