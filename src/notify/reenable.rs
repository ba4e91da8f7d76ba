//! A subscriber disabled after an HTTP 410 stays off until its target
//! changes: the receiver said that URL (or address) is gone, not that the
//! person is. So the state keeps a SHA-256 of the target each subscriber was
//! disabled with (never the target: chat webhook URLs are secrets), noted at
//! the end of the run that disabled it, and a later run whose configured
//! target hashes differently switches the subscriber back on and says so in
//! the log. Its dead deliveries stay dead (`retry --dead` revives them): the
//! new target gets the posts announced from now on.

use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};

use crate::config::subscribers::{Subscriber, Target};
use crate::state::{StateError, Store};

/// The SHA-256 (hex) of where a subscriber's messages go: the channel and
/// the webhook URL or email address.
pub fn target_fingerprint(target: &Target) -> String {
    let mut hash = Sha256::new();
    match target {
        Target::Email { address } => {
            hash.update(b"email\n");
            hash.update(address.trim().to_lowercase().as_bytes());
        }
        Target::Webhook { url, .. } => {
            hash.update(b"webhook\n");
            hash.update(url.expose_secret().trim().as_bytes());
        }
    }
    hex::encode(hash.finalize())
}

/// Before planning: switches back on the disabled subscribers whose
/// configured target differs from the one they were disabled with. Returns
/// their ids.
pub async fn enable_changed(
    store: &Store,
    blog: &str,
    subscribers: &[Subscriber],
) -> Result<Vec<String>, StateError> {
    let mut enabled = Vec::new();
    for disabled in store.disabled_subscriber_rows(blog).await? {
        let Some(was) = disabled.target_sha256.as_deref() else {
            continue;
        };
        let Some(now) = subscribers.iter().find(|s| s.id == disabled.subscriber) else {
            continue;
        };
        if target_fingerprint(&now.target) != was
            && store.enable_subscriber(blog, &disabled.subscriber).await?
        {
            tracing::warn!(
                blog,
                subscriber = %disabled.subscriber,
                disabled_at = %disabled.disabled_at,
                "subscriber enabled again: its target changed since it was disabled ({})",
                disabled.reason
            );
            enabled.push(disabled.subscriber);
        }
    }
    Ok(enabled)
}

/// After sending: notes the target of every subscriber disabled without a
/// known one (those this run disabled), as configured for this run.
pub async fn note_targets<'a>(
    store: &Store,
    blog: &str,
    subscribers: impl IntoIterator<Item = &'a Subscriber>,
) -> Result<(), StateError> {
    let disabled = store.disabled_subscriber_rows(blog).await?;
    let unknown: Vec<&str> = disabled
        .iter()
        .filter(|d| d.target_sha256.is_none())
        .map(|d| d.subscriber.as_str())
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let targets: Vec<(String, String)> = subscribers
        .into_iter()
        .filter(|s| unknown.contains(&s.id.as_str()))
        .map(|s| (s.id.clone(), target_fingerprint(&s.target)))
        .collect();
    if !targets.is_empty() {
        store.note_disabled_targets(blog, &targets).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::config::subscribers::WebhookFormat;

    fn hook(url: &str) -> Target {
        Target::Webhook {
            url: SecretString::from(url.to_string()),
            format: WebhookFormat::Json,
            secret: None,
            allow_http: false,
        }
    }

    #[test]
    fn a_fingerprint_changes_with_the_target_and_never_shows_it() {
        let a = target_fingerprint(&hook("https://hooks.example/T0/B0/secret"));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("secret"));
        assert_eq!(
            a,
            target_fingerprint(&hook("https://hooks.example/T0/B0/secret"))
        );
        assert_ne!(
            a,
            target_fingerprint(&hook("https://hooks.example/T0/B0/other"))
        );
        let mail = |a: &str| {
            target_fingerprint(&Target::Email {
                address: a.to_string(),
            })
        };
        assert_eq!(mail("Ann@Example.org"), mail("ann@example.org"));
        assert_ne!(mail("ann@example.org"), mail("bob@example.org"));
    }
}
