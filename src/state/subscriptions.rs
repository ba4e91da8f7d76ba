//! Subscribers who signed up themselves (`postbode serve`): email addresses
//! with double opt-in, and webhooks made through the API. Each lives in one
//! row of `subscriptions` with only what it needs: the address or URL, the
//! choices, and the times of request and confirmation (plus the time of the
//! last mail sent to it, for the per-address limit). Planning sees them as
//! subscribers with the id `serve:<n>` ([`subscriber_id`]).
//!
//! Subscribers from a feed definition that unsubscribe through a link are
//! kept in `opt_outs`: their definition is the operator's file, so their
//! choice to leave is remembered instead, and planning skips them.
//!
//! The SQL is in `sqlite/subscriptions.rs` and `postgres/subscriptions.rs`;
//! the `impl Store` here picks the backend.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use secrecy::SecretString;

use super::postgres::subscriptions as pg;
use super::sqlite::subscriptions as lite;
use super::{StateError, Store};
use crate::config::subscribers::{
    Digest, Filter, Language, Origin, Subscriber, Target, WebhookFormat,
};

/// The prefix of the ids of subscribers kept in the state. Feed definitions
/// may not use it (`config::subscribers` refuses it).
pub const SERVE_PREFIX: &str = "serve:";

/// The subscriber id planning and the outbox know a subscription by.
pub fn subscriber_id(id: i64) -> String {
    format!("{SERVE_PREFIX}{id}")
}

/// The subscription id in a `serve:<n>` subscriber id.
pub fn subscription_id(subscriber: &str) -> Option<i64> {
    subscriber.strip_prefix(SERVE_PREFIX)?.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Email,
    Webhook,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Webhook => "webhook",
        }
    }

    pub(super) fn parse(text: &str) -> Kind {
        if text == "webhook" {
            Kind::Webhook
        } else {
            Kind::Email
        }
    }
}

/// What a subscriber chose: tag keys and author keys (empty = every post),
/// `none`/`daily`/`weekly`, `nl`/`en`. Checked by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choices {
    pub tags: Vec<String>,
    pub authors: Vec<String>,
    pub digest: String,
    pub language: String,
}

/// A webhook's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTarget {
    pub url: String,
    /// `json`, `slack`, `teams`, `mattermost` or `discord`.
    pub format: String,
    /// Standard Webhooks signing secret (`json`), as given.
    pub secret: Option<String>,
    /// A name the team gave it, for lists.
    pub label: Option<String>,
}

/// One row of `subscriptions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subscription {
    pub id: i64,
    pub blog: String,
    pub kind: Kind,
    /// The email address, or the webhook URL.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
    pub choices: Choices,
    pub requested_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// In every manage and unsubscribe token; a new key revokes them.
    #[serde(skip)]
    pub manage_key: u64,
    /// In the confirmation token; `None` once confirmed, so a confirmation
    /// link works once.
    #[serde(skip)]
    pub confirm_key: Option<u64>,
}

impl Subscription {
    pub fn subscriber_id(&self) -> String {
        subscriber_id(self.id)
    }

    /// As planning and sending see it. Values the service did not check
    /// (a row written by hand) fall back to the defaults.
    pub fn to_subscriber(&self, default_language: Language) -> Subscriber {
        let target = match &self.webhook {
            None => Target::Email {
                address: self.target.clone(),
            },
            Some(w) => Target::Webhook {
                url: SecretString::from(w.url.clone()),
                format: WebhookFormat::from_name(&w.format).unwrap_or(WebhookFormat::Json),
                secret: w.secret.clone().map(SecretString::from),
                // Checked when the API accepted it (https, or loopback).
                allow_http: false,
            },
        };
        Subscriber {
            id: self.subscriber_id(),
            target,
            filter: Filter {
                any_tags: (!self.choices.tags.is_empty()).then(|| self.choices.tags.clone()),
                all_tags: Vec::new(),
                exclude_tags: Vec::new(),
                authors: self.choices.authors.clone(),
                tags_or_authors: true,
            },
            digest: Digest::from_name(&self.choices.digest).unwrap_or(Digest::None),
            language: Language::from_code(&self.choices.language).unwrap_or(default_language),
            origin: Origin::Serve {
                manage_key: self.manage_key,
            },
        }
    }
}

/// What a sign-up request did, so the caller knows which mail to send.
/// Whatever it is, the person at the form sees the same page.
#[derive(Debug, Clone, PartialEq)]
pub enum Requested {
    /// A new pending subscription, or a pending one asked for again (its
    /// choices replaced by the new ones).
    Pending {
        subscription: Subscription,
        mail: bool,
    },
    /// Already confirmed: nothing changed (a stranger must not change
    /// someone's choices); the owner may be sent their manage link.
    Confirmed {
        subscription: Subscription,
        mail: bool,
    },
}

/// What a confirmation did.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirmed {
    /// Confirmed now.
    Now(Box<Subscription>),
    /// The link was used before (the subscription is confirmed).
    AlreadyUsed,
    /// No such pending subscription (removed, purged, or a wrong key).
    Unknown,
}

/// The random keys of a new subscription. Not secret (tokens are signed),
/// only unique enough that a replaced key revokes the old tokens.
pub(super) fn new_key() -> i64 {
    fastrand::i64(1..i64::MAX)
}

impl Store {
    /// Records a sign-up for `address` (compared case-insensitively) with
    /// `choices`; `mail` in the answer says whether a mail may go out now:
    /// at most one per address per `quiet` (the time of the last one is
    /// kept in the row).
    pub async fn request_email(
        &self,
        blog: &str,
        address: &str,
        choices: &Choices,
        now: DateTime<Utc>,
        quiet: chrono::Duration,
    ) -> Result<Requested, StateError> {
        match self {
            Store::Sqlite(s) => lite::request_email(s, blog, address, choices, now, quiet).await,
            Store::Postgres(s) => pg::request_email(s, blog, address, choices, now, quiet).await,
        }
    }

    /// Confirms subscription `id` when `key` is its confirmation key.
    pub async fn confirm(
        &self,
        blog: &str,
        id: i64,
        key: u64,
        now: DateTime<Utc>,
    ) -> Result<Confirmed, StateError> {
        match self {
            Store::Sqlite(s) => lite::confirm(s, blog, id, key, now).await,
            Store::Postgres(s) => pg::confirm(s, blog, id, key, now).await,
        }
    }

    /// One subscription of the blog.
    pub async fn subscription(
        &self,
        blog: &str,
        id: i64,
    ) -> Result<Option<Subscription>, StateError> {
        match self {
            Store::Sqlite(s) => lite::subscription(s, blog, id).await,
            Store::Postgres(s) => pg::subscription(s, blog, id).await,
        }
    }

    /// Every subscription of the blog, pending ones too, by id.
    pub async fn subscriptions(&self, blog: &str) -> Result<Vec<Subscription>, StateError> {
        match self {
            Store::Sqlite(s) => lite::subscriptions(s, blog).await,
            Store::Postgres(s) => pg::subscriptions(s, blog).await,
        }
    }

    /// Replaces the choices of subscription `id`; whether it exists.
    pub async fn update_choices(
        &self,
        blog: &str,
        id: i64,
        choices: &Choices,
    ) -> Result<bool, StateError> {
        match self {
            Store::Sqlite(s) => lite::update_choices(s, blog, id, choices).await,
            Store::Postgres(s) => pg::update_choices(s, blog, id, choices).await,
        }
    }

    /// Erases subscription `id` and cancels (deletes) its deliveries that
    /// were not sent or being sent; whether it existed. Idempotent.
    pub async fn remove_subscription(&self, blog: &str, id: i64) -> Result<bool, StateError> {
        match self {
            Store::Sqlite(s) => lite::remove_subscription(s, blog, id).await,
            Store::Postgres(s) => pg::remove_subscription(s, blog, id).await,
        }
    }

    /// Adds a confirmed subscription at once: a webhook made through the
    /// API, or an address the operator imports (with the consent they
    /// hold). `Ok(None)` when the blog has that target already.
    pub async fn add_confirmed(
        &self,
        blog: &str,
        kind: Kind,
        target: &str,
        webhook: Option<&WebhookTarget>,
        choices: &Choices,
        now: DateTime<Utc>,
    ) -> Result<Option<Subscription>, StateError> {
        match self {
            Store::Sqlite(s) => {
                lite::add_confirmed(s, blog, kind, target, webhook, choices, now).await
            }
            Store::Postgres(s) => {
                pg::add_confirmed(s, blog, kind, target, webhook, choices, now).await
            }
        }
    }

    /// Deletes sign-ups never confirmed and requested before `before`.
    pub async fn purge_unconfirmed(
        &self,
        blog: &str,
        before: DateTime<Utc>,
    ) -> Result<u64, StateError> {
        match self {
            Store::Sqlite(s) => lite::purge_unconfirmed(s, blog, before).await,
            Store::Postgres(s) => pg::purge_unconfirmed(s, blog, before).await,
        }
    }

    /// A subscriber of the feed definition unsubscribed: remembered, and
    /// its deliveries not yet sent cancelled. Whether it was new.
    pub async fn opt_out(
        &self,
        blog: &str,
        subscriber: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        match self {
            Store::Sqlite(s) => lite::opt_out(s, blog, subscriber, now).await,
            Store::Postgres(s) => pg::opt_out(s, blog, subscriber, now).await,
        }
    }

    /// The feed definition's subscribers who unsubscribed.
    pub async fn opt_outs(&self, blog: &str) -> Result<Vec<String>, StateError> {
        match self {
            Store::Sqlite(s) => lite::opt_outs(s, blog).await,
            Store::Postgres(s) => pg::opt_outs(s, blog).await,
        }
    }
}
