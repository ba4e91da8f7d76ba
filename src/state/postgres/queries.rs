//! Reads that change nothing, on PostgreSQL: the same questions as
//! SQLite's `queries.rs` (posts seen, disabled subscribers, the outbox as
//! `status`, `history` and the gauges show it), in PostgreSQL's dialect.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::state::Located as _;
use crate::state::{
    DeliveryRow, DisabledSubscriber, Gauges, HistoryFilter, SeenPost, SentDelivery, StateError,
};

pub(super) async fn has_history(store: &PgStore, blog: &str) -> Result<bool, StateError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM posts WHERE blog = $1)")
        .bind(blog)
        .fetch_one(&store.pool)
        .await
        .map_err(store.err("looking for recorded posts"))
}

pub(super) async fn seen_posts(store: &PgStore, blog: &str) -> Result<Vec<SeenPost>, StateError> {
    // COLLATE "C": the same byte order as SQLite's, whatever the database's
    // locale.
    sqlx::query_as(
        "SELECT key, permalink, title, announced_at IS NOT NULL AS announced
         FROM posts WHERE blog = $1 ORDER BY key COLLATE \"C\"",
    )
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("reading recorded posts"))
}

pub(super) async fn disabled_subscribers(
    store: &PgStore,
    blog: &str,
) -> Result<Vec<(String, String)>, StateError> {
    sqlx::query_as(
        "SELECT subscriber, reason FROM disabled_subscribers WHERE blog = $1
         ORDER BY subscriber COLLATE \"C\"",
    )
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("reading disabled subscribers"))
}

pub(super) async fn disabled_subscriber_rows(
    store: &PgStore,
    blog: &str,
) -> Result<Vec<DisabledSubscriber>, StateError> {
    sqlx::query_as(
        "SELECT subscriber, disabled_at, reason, target_sha256
         FROM disabled_subscribers WHERE blog = $1
         ORDER BY disabled_at, subscriber COLLATE \"C\"",
    )
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("reading disabled subscribers"))
}

pub(super) async fn open_deliveries(
    store: &PgStore,
    blog: &str,
) -> Result<Vec<DeliveryRow>, StateError> {
    sqlx::query_as(
        "SELECT id, post_key, subscriber, channel, status, attempts, next_attempt_at,
                last_error, sent_at, created_at, hold_until, previous_attempts
         FROM deliveries WHERE blog = $1 AND status <> 'sent'
         ORDER BY created_at, id",
    )
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("reading open deliveries"))
}

pub(super) async fn counts(
    store: &PgStore,
    blog: &str,
) -> Result<BTreeMap<String, u64>, StateError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) AS n FROM deliveries WHERE blog = $1 GROUP BY status",
    )
    .bind(blog)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("counting deliveries"))?;
    crate::state::counts_from(rows, &store.at())
}

pub(super) async fn history(
    store: &PgStore,
    blog: &str,
    filter: &HistoryFilter,
) -> Result<Vec<SentDelivery>, StateError> {
    // As on SQLite: a row merged into a digest went out in that digest's
    // message, at its time.
    sqlx::query_as(
        "SELECT d.id, d.post_key, p.permalink, p.title, d.subscriber, d.channel,
                COALESCE(d.sent_at, k.sent_at) AS sent_at,
                d.attempts + d.previous_attempts AS attempts, k.id AS digest_id
         FROM deliveries d JOIN posts p ON p.blog = d.blog AND p.key = d.post_key
         LEFT JOIN deliveries k ON d.sent_at IS NULL AND k.blog = d.blog
              AND k.subscriber = d.subscriber
              AND d.last_error = 'merged into digest #' || k.id
         WHERE d.blog = $1 AND d.status = 'sent'
           AND COALESCE(d.sent_at, k.sent_at) IS NOT NULL
           AND ($2::text IS NULL OR d.subscriber = $2)
           AND ($3::text IS NULL OR rtrim(p.permalink, '/') = rtrim($3, '/'))
           AND ($4::timestamptz IS NULL OR COALESCE(d.sent_at, k.sent_at) >= $4)
         ORDER BY 7 DESC, d.id DESC",
    )
    .bind(blog)
    .bind(filter.subscriber.as_deref())
    .bind(filter.permalink.as_deref())
    .bind(filter.since)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("reading what was sent"))
}

pub(super) async fn gauges(
    store: &PgStore,
    blog: &str,
    now: DateTime<Utc>,
) -> Result<Gauges, StateError> {
    let what = "counting deliveries and disabled subscribers";
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT CASE WHEN status = 'pending' AND hold_until > $2 THEN 'held' ELSE status END
                    AS shown,
                COUNT(*) AS n
         FROM deliveries WHERE blog = $1 GROUP BY shown",
    )
    .bind(blog)
    .bind(now)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err(what))?;
    let disabled: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM disabled_subscribers WHERE blog = $1")
            .bind(blog)
            .fetch_one(&store.pool)
            .await
            .map_err(store.err(what))?;
    crate::state::gauges_from(rows, disabled, &store.at())
}
