//! The subscriptions of `postbode serve` and the opt-outs, in PostgreSQL
//! (see `state::subscriptions`); the same statements as SQLite's, with
//! native timestamps.

use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::PgStore;
use crate::state::Located as _;
use crate::state::StateError;
use crate::state::subscriptions::{
    Choices, Confirmed, Kind, Requested, Subscription, WebhookTarget, new_key, subscriber_id,
};

const COLUMNS: &str = "id, blog, kind, target, format, secret, label, tags, authors, digest, \
                       language, requested_at, confirmed_at, confirm_key, manage_key";

fn row_to(row: &PgRow) -> Result<Subscription, sqlx::Error> {
    let kind = Kind::parse(&row.try_get::<String, _>("kind")?);
    let target: String = row.try_get("target")?;
    let list = |column: &str| -> Result<Vec<String>, sqlx::Error> {
        let text: String = row.try_get(column)?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    };
    Ok(Subscription {
        id: row.try_get("id")?,
        blog: row.try_get("blog")?,
        kind,
        webhook: match kind {
            Kind::Email => None,
            Kind::Webhook => Some(WebhookTarget {
                url: target.clone(),
                format: row
                    .try_get::<Option<String>, _>("format")?
                    .unwrap_or_default(),
                secret: row.try_get("secret")?,
                label: row.try_get("label")?,
            }),
        },
        target,
        choices: Choices {
            tags: list("tags")?,
            authors: list("authors")?,
            digest: row.try_get("digest")?,
            language: row.try_get("language")?,
        },
        requested_at: row.try_get("requested_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
        confirm_key: row
            .try_get::<Option<i64>, _>("confirm_key")?
            .map(|k| k as u64),
        manage_key: row.try_get::<i64, _>("manage_key")? as u64,
    })
}

fn json(list: &[String]) -> String {
    serde_json::to_string(list).expect("a list of strings is JSON")
}

pub(crate) async fn request_email(
    store: &PgStore,
    blog: &str,
    address: &str,
    choices: &Choices,
    now: DateTime<Utc>,
    quiet: chrono::Duration,
) -> Result<Requested, StateError> {
    let what = "recording a sign-up";
    let key = address.to_lowercase();
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    // Two sign-ups for one new address at once (two replicas): one inserts,
    // the other waits here and then sees its row.
    sqlx::query("SELECT pg_advisory_xact_lock(1885500277, hashtext($1 || ' ' || $2))")
        .bind(blog)
        .bind(&key)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, mailed_at FROM subscriptions
         WHERE blog = $1 AND kind = 'email' AND target_key = $2"
    )))
    .bind(blog)
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await
    .map_err(store.err(what))?;
    let answer = match found {
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO subscriptions (blog, kind, target, target_key, tags, authors, digest,
                     language, requested_at, confirm_key, manage_key, mailed_at)
                 VALUES ($1, 'email', $2, $3, $4, $5, $6, $7, $8, $9, $10, $8) RETURNING id",
            )
            .bind(blog)
            .bind(address)
            .bind(&key)
            .bind(json(&choices.tags))
            .bind(json(&choices.authors))
            .bind(&choices.digest)
            .bind(&choices.language)
            .bind(now)
            .bind(new_key())
            .bind(new_key())
            .fetch_one(&mut *tx)
            .await
            .map_err(store.err(what))?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM subscriptions WHERE id = $1"
            )))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(store.err(what))?;
            Requested::Pending {
                subscription: row_to(&row).map_err(store.err(what))?,
                mail: true,
            }
        }
        Some(row) => {
            let mut subscription = row_to(&row).map_err(store.err(what))?;
            let mailed_at: Option<DateTime<Utc>> =
                row.try_get("mailed_at").map_err(store.err(what))?;
            let mail = mailed_at.is_none_or(|t| t + quiet <= now);
            let confirmed = subscription.confirmed_at.is_some();
            if !confirmed {
                sqlx::query(
                    "UPDATE subscriptions SET tags = $2, authors = $3, digest = $4, language = $5,
                         requested_at = $6 WHERE id = $1",
                )
                .bind(subscription.id)
                .bind(json(&choices.tags))
                .bind(json(&choices.authors))
                .bind(&choices.digest)
                .bind(&choices.language)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(store.err(what))?;
                subscription.choices = choices.clone();
                subscription.requested_at = now;
            }
            if mail {
                sqlx::query("UPDATE subscriptions SET mailed_at = $2 WHERE id = $1")
                    .bind(subscription.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(store.err(what))?;
            }
            if confirmed {
                Requested::Confirmed { subscription, mail }
            } else {
                Requested::Pending { subscription, mail }
            }
        }
    };
    tx.commit().await.map_err(store.err(what))?;
    Ok(answer)
}

pub(crate) async fn confirm(
    store: &PgStore,
    blog: &str,
    id: i64,
    key: u64,
    now: DateTime<Utc>,
) -> Result<Confirmed, StateError> {
    let what = "confirming a subscription";
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE blog = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(blog)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(store.err(what))?;
    let Some(row) = row else {
        return Ok(Confirmed::Unknown);
    };
    let mut subscription = row_to(&row).map_err(store.err(what))?;
    let answer = match subscription.confirm_key {
        Some(k) if k == key => {
            sqlx::query(
                "UPDATE subscriptions SET confirmed_at = $2, confirm_key = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store.err(what))?;
            subscription.confirmed_at = Some(now);
            subscription.confirm_key = None;
            Confirmed::Now(Box::new(subscription))
        }
        None if subscription.confirmed_at.is_some() => Confirmed::AlreadyUsed,
        _ => Confirmed::Unknown,
    };
    tx.commit().await.map_err(store.err(what))?;
    Ok(answer)
}

pub(crate) async fn subscription(
    store: &PgStore,
    blog: &str,
    id: i64,
) -> Result<Option<Subscription>, StateError> {
    let what = "reading a subscription";
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE blog = $1 AND id = $2"
    )))
    .bind(blog)
    .bind(id)
    .fetch_optional(&store.pool)
    .await
    .map_err(store.err(what))?;
    row.map(|r| row_to(&r)).transpose().map_err(store.err(what))
}

pub(crate) async fn subscriptions(
    store: &PgStore,
    blog: &str,
) -> Result<Vec<Subscription>, StateError> {
    let what = "reading the subscriptions";
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE blog = $1 ORDER BY id"
    )))
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err(what))?;
    rows.iter()
        .map(row_to)
        .collect::<Result<_, _>>()
        .map_err(store.err(what))
}

pub(crate) async fn update_choices(
    store: &PgStore,
    blog: &str,
    id: i64,
    choices: &Choices,
) -> Result<bool, StateError> {
    let done = sqlx::query(
        "UPDATE subscriptions SET tags = $3, authors = $4, digest = $5, language = $6
         WHERE blog = $1 AND id = $2",
    )
    .bind(blog)
    .bind(id)
    .bind(json(&choices.tags))
    .bind(json(&choices.authors))
    .bind(&choices.digest)
    .bind(&choices.language)
    .execute(&store.pool)
    .await
    .map_err(store.err("changing a subscription"))?;
    Ok(done.rows_affected() > 0)
}

/// Deliveries not sent and not being sent: what leaving cancels.
const CANCEL: &str = "DELETE FROM deliveries WHERE blog = $1 AND subscriber = $2
                      AND NOT closed AND status IN ('pending', 'retrying')";

pub(crate) async fn remove_subscription(
    store: &PgStore,
    blog: &str,
    id: i64,
) -> Result<bool, StateError> {
    let what = "removing a subscription";
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    let done = sqlx::query("DELETE FROM subscriptions WHERE blog = $1 AND id = $2")
        .bind(blog)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    sqlx::query(CANCEL)
        .bind(blog)
        .bind(subscriber_id(id))
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    tx.commit().await.map_err(store.err(what))?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn add_confirmed(
    store: &PgStore,
    blog: &str,
    kind: Kind,
    target: &str,
    webhook: Option<&WebhookTarget>,
    choices: &Choices,
    now: DateTime<Utc>,
) -> Result<Option<Subscription>, StateError> {
    let what = "adding a subscription";
    let key = match kind {
        Kind::Email => target.to_lowercase(),
        Kind::Webhook => target.to_string(),
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO subscriptions (blog, kind, target, target_key, format, secret, label, tags,
             authors, digest, language, requested_at, confirmed_at, manage_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)
         ON CONFLICT (blog, kind, target_key) DO NOTHING
         RETURNING {COLUMNS}"
    )))
    .bind(blog)
    .bind(kind.name())
    .bind(target)
    .bind(&key)
    .bind(webhook.map(|w| w.format.clone()))
    .bind(webhook.and_then(|w| w.secret.clone()))
    .bind(webhook.and_then(|w| w.label.clone()))
    .bind(json(&choices.tags))
    .bind(json(&choices.authors))
    .bind(&choices.digest)
    .bind(&choices.language)
    .bind(now)
    .bind(new_key())
    .fetch_optional(&store.pool)
    .await
    .map_err(store.err(what))?;
    row.map(|r| row_to(&r)).transpose().map_err(store.err(what))
}

pub(crate) async fn purge_unconfirmed(
    store: &PgStore,
    blog: &str,
    before: DateTime<Utc>,
) -> Result<u64, StateError> {
    let done = sqlx::query(
        "DELETE FROM subscriptions
         WHERE blog = $1 AND confirmed_at IS NULL AND requested_at < $2",
    )
    .bind(blog)
    .bind(before)
    .execute(&store.pool)
    .await
    .map_err(store.err("deleting unconfirmed sign-ups"))?;
    Ok(done.rows_affected())
}

pub(crate) async fn opt_out(
    store: &PgStore,
    blog: &str,
    subscriber: &str,
    now: DateTime<Utc>,
) -> Result<bool, StateError> {
    let what = "recording an unsubscription";
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    let done = sqlx::query(
        "INSERT INTO opt_outs (blog, subscriber, at) VALUES ($1, $2, $3)
         ON CONFLICT (blog, subscriber) DO NOTHING",
    )
    .bind(blog)
    .bind(subscriber)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(store.err(what))?;
    sqlx::query(CANCEL)
        .bind(blog)
        .bind(subscriber)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    tx.commit().await.map_err(store.err(what))?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn opt_outs(store: &PgStore, blog: &str) -> Result<Vec<String>, StateError> {
    sqlx::query_scalar("SELECT subscriber FROM opt_outs WHERE blog = $1 ORDER BY subscriber")
        .bind(blog)
        .fetch_all(&store.pool)
        .await
        .map_err(store.err("reading the unsubscribed"))
}
