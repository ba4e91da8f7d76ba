//! `[email]`: who the messages are from and how they leave (an SMTP server or
//! `.eml` files in a folder). Addresses and the server URL are checked while
//! the feed definition is read, so a typo is an error with its line and
//! column instead of a failed delivery later; the full `smtp_url` options are
//! read by the sender.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, de::Error as _};

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
}

impl EmailConfig {
    /// `base` is the definition's folder (relative paths are read from
    /// there); `project` the folder of the defaults (`outbox/`).
    pub fn from_raw(raw: RawEmail, base: &Path, project: &Path) -> EmailConfig {
        let outbox = match raw.outbox {
            Some(p) if p.is_absolute() => normalize_path(&p),
            Some(p) => normalize_path(&base.join(p)),
            None => project.join("outbox"),
        };
        EmailConfig {
            from: raw.from,
            transport: raw.transport,
            smtp_url: raw.smtp_url,
            username_env: raw.username_env,
            password_env: raw.password_env,
            outbox,
            reply_to: raw.reply_to,
            unsubscribe_url: raw.unsubscribe_url,
        }
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

/// `smtp://host[:port][?tls=required]` or `smtps://host[:port]`.
fn smtp_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    let shown = redact_url(&text);
    let url = url::Url::parse(&text)
        .map_err(|e| D::Error::custom(format!("{shown:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(D::Error::custom(format!(
            "{shown:?} must start with smtp:// or smtps://"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // The file is often in a repository: the login comes from the
        // environment instead.
        return Err(D::Error::custom(
            "must not hold a login; name environment variables in username_env and password_env",
        ));
    }
    Ok(Some(text))
}
