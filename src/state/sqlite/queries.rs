//! Reads that change nothing, in SQLite: which posts a blog has seen, who was
//! switched off (and since when, why, with which target), and the outbox as
//! `postbode status` shows it.

use std::collections::BTreeMap;

use super::SqliteStore;
use crate::state::{DeliveryRow, DeliveryStatus, DisabledSubscriber, SeenPost, StateError};

pub(super) async fn has_history(store: &SqliteStore, blog: &str) -> Result<bool, StateError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM posts WHERE blog = ?1)")
        .bind(blog)
        .fetch_one(&store.pool)
        .await
        .map_err(store.err("looking for recorded posts"))
}

pub(super) async fn seen_posts(
    store: &SqliteStore,
    blog: &str,
) -> Result<Vec<SeenPost>, StateError> {
    sqlx::query_as(
        "SELECT key, permalink, title, announced_at IS NOT NULL AS announced
         FROM posts WHERE blog = ?1 ORDER BY key",
    )
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("reading recorded posts"))
}

pub(super) async fn disabled_subscribers(
    store: &SqliteStore,
    blog: &str,
) -> Result<Vec<(String, String)>, StateError> {
    sqlx::query_as(
        "SELECT subscriber, reason FROM disabled_subscribers WHERE blog = ?1 ORDER BY subscriber",
    )
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("reading disabled subscribers"))
}

pub(super) async fn disabled_subscriber_rows(
    store: &SqliteStore,
    blog: &str,
) -> Result<Vec<DisabledSubscriber>, StateError> {
    sqlx::query_as(
        "SELECT subscriber, disabled_at, reason, target_sha256
         FROM disabled_subscribers WHERE blog = ?1 ORDER BY disabled_at, subscriber",
    )
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("reading disabled subscribers"))
}

pub(super) async fn open_deliveries(
    store: &SqliteStore,
    blog: &str,
) -> Result<Vec<DeliveryRow>, StateError> {
    sqlx::query_as(
        "SELECT id, post_key, subscriber, channel, status, attempts, next_attempt_at,
                last_error, sent_at, created_at
         FROM deliveries WHERE blog = ?1 AND status <> 'sent'
         ORDER BY created_at, id",
    )
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("reading open deliveries"))
}

pub(super) async fn counts(
    store: &SqliteStore,
    blog: &str,
) -> Result<BTreeMap<String, u64>, StateError> {
    let what = "counting deliveries";
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) AS n FROM deliveries WHERE blog = ?1 GROUP BY status",
    )
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err(what))?;
    let mut counts: BTreeMap<String, u64> = DeliveryStatus::ALL
        .iter()
        .map(|status| (status.as_str().to_string(), 0))
        .collect();
    for (status, n) in rows {
        // The schema's CHECK allows only known statuses; one that is not
        // would be a newer postbode's, and must not be counted as another.
        let status: DeliveryStatus = status.parse().map_err(|message| StateError::Invalid {
            path: store.at(),
            message,
        })?;
        counts.insert(status.as_str().to_string(), n.max(0).unsigned_abs());
    }
    Ok(counts)
}
