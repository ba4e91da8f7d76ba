//! The mails the sign-up form sends: the confirmation link of a new (or
//! still pending) sign-up, and for an address that is already subscribed,
//! its manage link. Sent with the blog's `[email]` settings in a task of
//! its own, so the form answers as fast whichever mail (if any) goes out:
//! the answer's timing tells nothing about the address.
//!
//! Logs name the subscription id, never the address.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use serde_json::json;

use super::Site;
use crate::config::subscribers::Language;
use crate::notify::email::Mailer;
use crate::state::subscriptions::Subscription;
use crate::token::{Claims, Purpose};

/// How long a confirmation link works.
pub const CONFIRM_LIFETIME: chrono::Duration = chrono::Duration::hours(48);

/// Mails being built or sent; see [`settled`].
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Which mail a sign-up gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Pending: the link that confirms it.
    Confirm,
    /// Already confirmed: the manage link.
    Known,
}

/// The confirmation link of a pending subscription.
pub fn confirm_url(site: &Site, subscription: &Subscription, now: DateTime<Utc>) -> String {
    let token = site.signer.sign(&Claims {
        purpose: Purpose::Confirm,
        subscriber: subscription.subscriber_id(),
        key: subscription.confirm_key.unwrap_or_default(),
        expires: Some(now + CONFIRM_LIFETIME),
    });
    site.serve
        .page(&site.config.name, &format!("confirm/{token}"))
}

/// The manage link of a subscription; it works as long as its key.
pub fn manage_url(site: &Site, subscription: &Subscription) -> String {
    let token = site.signer.sign(&Claims {
        purpose: Purpose::Manage,
        subscriber: subscription.subscriber_id(),
        key: subscription.manage_key,
        expires: None,
    });
    site.serve
        .page(&site.config.name, &format!("manage/{token}"))
}

/// Sends mail `kind` about `subscription` in a task of its own; a failure
/// is logged (with the subscription id) and the reader may ask again.
pub fn spawn(
    site: Arc<Site>,
    subscription: Subscription,
    kind: Kind,
    language: Language,
    now: DateTime<Utc>,
) {
    let counted = InFlight::count();
    tokio::spawn(async move {
        let _counted = counted;
        let id = subscription.subscriber_id();
        if let Err(reason) = send(&site, &subscription, kind, language, now).await {
            // An SMTP server's answer may quote the address.
            let reason = redact(&reason, &subscription.target);
            tracing::warn!(blog = %site.config.name, subscription = %id, "sign-up mail not sent: {reason}");
        } else {
            tracing::info!(blog = %site.config.name, subscription = %id, ?kind, "sign-up mail sent");
        }
    });
}

/// One mail in [`IN_FLIGHT`], until dropped: also when its task is
/// cancelled (the runtime stops).
struct InFlight;

impl InFlight {
    fn count() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits until every mail started by [`spawn`] is sent or given up (for
/// tests, and for a graceful stop).
pub async fn settled() {
    while IN_FLIGHT.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn send(
    site: &Site,
    subscription: &Subscription,
    kind: Kind,
    language: Language,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let Some(cfg) = &site.config.email else {
        return Err("the blog has no [email] settings".into());
    };
    let message = build(site, subscription, kind, language, now)?;
    let env = |k: &str| std::env::var(k).ok();
    let mut mailer = Mailer::connect(cfg, &env)
        .await
        .map_err(|e| e.to_string())?;
    let sent = mailer.send(&message, &subscription.target).await;
    mailer.close().await;
    sent.map_err(|e| e.to_string())
}

fn build(
    site: &Site,
    subscription: &Subscription,
    kind: Kind,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Message, String> {
    let cfg = site.config.email.as_ref().ok_or("no [email] settings")?;
    let (name, url) = match kind {
        Kind::Confirm => ("confirm", confirm_url(site, subscription, now)),
        Kind::Known => ("known", manage_url(site, subscription)),
    };
    let ctx = json!({
        "blog_title": site.config.title,
        "url": url,
        "subscribe_url": site.serve.page(&site.config.name, "subscribe"),
        "hours": CONFIRM_LIFETIME.num_hours(),
    });
    let (subject, text, html) = site
        .pages
        .mail(language, name, &ctx)
        .map_err(|e| e.to_string())?;
    let from: Mailbox = cfg.from.parse().map_err(|e| format!("from: {e}"))?;
    let to: Mailbox = subscription
        .target
        .parse()
        .map_err(|_| "the address is not one lettre accepts".to_string())?;
    // Unique per mail: the file outbox names files after it.
    let message_id = format!(
        "<postbode.{}.signup-{}.{:016x}@{}>",
        site.config
            .name
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
        subscription.id,
        fastrand::u64(..),
        from.email.domain()
    );
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(subject.split_whitespace().collect::<Vec<_>>().join(" "))
        .date(now.into())
        .message_id(Some(message_id))
        .header(AutoGenerated);
    if let Some(reply_to) = &cfg.reply_to {
        builder = builder.reply_to(reply_to.parse().map_err(|e| format!("reply_to: {e}"))?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| e.to_string())
}

/// `Auto-Submitted: auto-generated` (RFC 3834): no vacation replies to a
/// confirmation mail.
#[derive(Debug, Clone)]
struct AutoGenerated;

impl Header for AutoGenerated {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoGenerated)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// `text` with every occurrence of `address` (in any case) blanked.
fn redact(text: &str, address: &str) -> String {
    if address.is_empty() {
        return text.to_string();
    }
    let lower = text.to_lowercase();
    let needle = address.to_lowercase();
    if lower.len() != text.len() {
        // Lowercasing changed byte offsets: drop the reason, keep the fact.
        return "(reason withheld: it may quote the address)".into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower.match_indices(&needle) {
        out.push_str(&text[rest..at]);
        out.push_str("[address]");
        rest = at + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_in_an_error_is_blanked_in_any_case() {
        assert_eq!(
            redact(
                "550 <Ann@Example.org>: no such user ann@example.org",
                "ann@example.org"
            ),
            "550 <[address]>: no such user [address]"
        );
        assert_eq!(redact("timeout", "a@b"), "timeout");
    }
}
