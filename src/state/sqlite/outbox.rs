//! The outbox's writes in SQLite: recording posts and their deliveries,
//! leasing due rows to a run, settling them (sent, failed, released, dead),
//! and merging held rows into digests.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{SqliteStore, runs, ts};
use crate::state::Located as _;
use crate::state::{
    Announcement, Claimed, ClaimedRef, DeliveryStatus, MAX_ERROR_CHARS, RunGuard, SeenPost,
    Settlement, StateError, after, distinct_payloads, payload_ids, payload_sha256, with_payloads,
};

/// Rows per multi-row INSERT: one statement per delivery costs a round trip
/// to SQLite's worker thread each, which dominates a post announced to
/// thousands of subscribers. 100 rows of 9 values stay far below SQLite's
/// limit of 32,766 bound values.
const INSERT_CHUNK: usize = 100;

/// Ids per `UPDATE … WHERE id IN (…)` in `mark_sent_many`.
const UPDATE_CHUNK: usize = 500;

pub(super) async fn record(
    store: &SqliteStore,
    blog: &str,
    now: DateTime<Utc>,
    seen: &[SeenPost],
    announce: &[Announcement],
) -> Result<usize, StateError> {
    let what = "recording posts and deliveries";
    let stamp = ts(now);
    let mut tx = store.begin_immediate(what).await?;
    for post in seen {
        sqlx::query(
            "INSERT INTO posts (blog, key, permalink, title, first_seen_at, announced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?6 THEN ?5 END)
             ON CONFLICT (blog, key) DO UPDATE SET
                 permalink = excluded.permalink, title = excluded.title,
                 announced_at = COALESCE(posts.announced_at, excluded.announced_at)",
        )
        .bind(blog)
        .bind(&post.key)
        .bind(&post.permalink)
        .bind(&post.title)
        .bind(&stamp)
        .bind(post.announced)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    }
    let mut inserted = 0;
    for post in announce {
        sqlx::query(
            "INSERT INTO posts
                 (blog, key, permalink, title, first_seen_at, published_at, announced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5)
             ON CONFLICT (blog, key) DO UPDATE SET
                 permalink = excluded.permalink, title = excluded.title,
                 published_at = COALESCE(posts.published_at, excluded.published_at),
                 announced_at = COALESCE(posts.announced_at, excluded.announced_at)",
        )
        .bind(blog)
        .bind(&post.key)
        .bind(&post.permalink)
        .bind(&post.title)
        .bind(&stamp)
        .bind(ts(post.published_at))
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
        let mut payloads = std::collections::HashMap::new();
        for (body, sha256) in distinct_payloads(&post.deliveries) {
            let id = store_payload(&mut tx, body, &sha256)
                .await
                .map_err(store.err(what))?;
            payloads.insert(body, id);
        }
        for chunk in post.deliveries.chunks(INSERT_CHUNK) {
            // Only the (post, subscriber, channel) key is ignored on
            // conflict; any other constraint still fails loudly.
            let values = vec!["(?, ?, ?, ?, ?, 'pending', 0, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO deliveries
                     (blog, post_key, subscriber, channel, payload_id, status, attempts,
                      hold_until, created_at)
                 VALUES {values}
                 ON CONFLICT (blog, post_key, subscriber, channel) DO NOTHING"
            );
            // Only placeholders are formatted in; every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for delivery in chunk {
                q = q
                    .bind(blog)
                    .bind(&post.key)
                    .bind(&delivery.subscriber)
                    .bind(&delivery.channel)
                    .bind(payloads.get(delivery.payload.as_str()).copied())
                    .bind(delivery.hold_until.map(ts))
                    .bind(&stamp);
            }
            let done = q.execute(&mut *tx).await.map_err(store.err(what))?;
            inserted += done.rows_affected() as usize;
        }
    }
    tx.commit().await.map_err(store.err(what))?;
    Ok(inserted)
}

/// The id of the payload `body` (whose hash is `sha256`), stored now unless
/// it already was.
async fn store_payload(
    conn: &mut sqlx::SqliteConnection,
    body: &str,
    sha256: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO payloads (sha256, body) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha256)
    .bind(body)
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar("SELECT id FROM payloads WHERE sha256 = ?1")
        .bind(sha256)
        .fetch_one(&mut *conn)
        .await
}

pub(super) async fn claim_due(
    store: &SqliteStore,
    blog: &str,
    run: &RunGuard,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Claimed>, StateError> {
    let what = "claiming due deliveries";
    let mut tx = store.begin_immediate(what).await?;
    runs::check_holder(store, &mut tx, blog, run, what).await?;
    let lease_end = ts(after(now, lease));
    // `next_attempt_at` is set to the end of the lease, so that should the
    // process die mid-send, `status` shows when the row will be tried again
    // at the latest.
    let claimed: Vec<ClaimedRef> = sqlx::query_as(
        "UPDATE deliveries
         SET status = 'sending', lease_run = ?2, lease_until = ?4, attempts = attempts + 1,
             next_attempt_at = ?4
         WHERE id IN (
             SELECT id FROM deliveries
             WHERE blog = ?1 AND (
                 (status IN ('pending', 'retrying')
                  AND (next_attempt_at IS NULL OR next_attempt_at <= ?3)
                  AND (hold_until IS NULL OR hold_until <= ?3))
                 OR (status = 'sending'
                     AND (lease_until IS NULL OR lease_until <= ?3 OR lease_run IS NOT ?2)))
             ORDER BY id LIMIT ?5)
         RETURNING id, subscriber, channel, payload_id, attempts, created_at, hold_until",
    )
    .bind(blog)
    .bind(run.run_id)
    .bind(ts(now))
    .bind(lease_end)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *tx)
    .await
    .map_err(store.err(what))?;
    // The ids travel as one JSON array: no limit on bound values.
    let ids = serde_json::to_string(&payload_ids(&claimed)).unwrap_or_default();
    let bodies: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, body FROM payloads WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(store.err(what))?;
    tx.commit().await.map_err(store.err(what))?;
    with_payloads(claimed, bodies, &store.at())
}

pub(super) async fn mark_sent(
    store: &SqliteStore,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    let done = sqlx::query(
        "UPDATE deliveries
         SET status = 'sent', sent_at = ?2, next_attempt_at = NULL,
             lease_run = NULL, lease_until = NULL
         WHERE id = ?1",
    )
    .bind(id)
    .bind(ts(now))
    .execute(&store.pool)
    .await
    .map_err(store.err("marking a delivery sent"))?;
    store.one_row(id, done.rows_affected())
}

pub(super) async fn mark_sent_many(
    store: &SqliteStore,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    if ids.is_empty() {
        return Ok(());
    }
    let what = "marking deliveries sent";
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    set_sent(&mut tx, ids, now).await.map_err(store.err(what))?;
    tx.commit().await.map_err(store.err(what))?;
    Ok(())
}

pub(super) async fn mark_failed(
    store: &SqliteStore,
    id: i64,
    now: DateTime<Utc>,
    error: &str,
    next_attempt_at: Option<DateTime<Utc>>,
    dead: bool,
) -> Result<(), StateError> {
    let what = "recording a failed delivery";
    let mut conn = store.pool.acquire().await.map_err(store.err(what))?;
    let done = set_failed(&mut conn, id, now, error, next_attempt_at, dead)
        .await
        .map_err(store.err(what))?;
    store.one_row(id, done)
}

pub(super) async fn release(store: &SqliteStore, id: i64) -> Result<(), StateError> {
    let what = "releasing a delivery";
    let mut conn = store.pool.acquire().await.map_err(store.err(what))?;
    set_released(&mut conn, id).await.map_err(store.err(what))?;
    Ok(())
}

/// Many outcomes in one transaction: the sent rows by chunks of ids, the
/// rest one statement each (failures and releases are the rare ones).
pub(super) async fn settle(store: &SqliteStore, outcomes: &[Settlement]) -> Result<(), StateError> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let what = "recording what was sent";
    let mut tx = store.begin_immediate(what).await?;
    let mut sent = Vec::new();
    for outcome in outcomes {
        match outcome {
            Settlement::Sent { id, at } => sent.push(json!([id, ts(*at)])),
            Settlement::Failed {
                id,
                at,
                error,
                next_attempt_at,
                dead,
            } => {
                set_failed(&mut tx, *id, *at, error, *next_attempt_at, *dead)
                    .await
                    .map_err(store.err(what))?;
            }
            Settlement::Released { id } => {
                set_released(&mut tx, *id).await.map_err(store.err(what))?;
            }
        }
    }
    if !sent.is_empty() {
        set_sent_at(&mut tx, Value::Array(sent))
            .await
            .map_err(store.err(what))?;
    }
    tx.commit().await.map_err(store.err(what))?;
    Ok(())
}

/// Marks each row of `pairs` (`[[id, time], …]`) sent at its own time, in
/// one statement however many times there are: with a real clock every
/// outcome has a time of its own, and a statement per time was a statement
/// (a round trip to the connection's thread) per delivery.
async fn set_sent_at(conn: &mut sqlx::SqliteConnection, pairs: Value) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries
         SET status = 'sent', sent_at = j.at, next_attempt_at = NULL,
             lease_run = NULL, lease_until = NULL
         FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS at
               FROM json_each(?1)) AS j
         WHERE deliveries.id = j.id",
    )
    .bind(pairs.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_sent(
    conn: &mut sqlx::SqliteConnection,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(UPDATE_CHUNK) {
        let placeholders = vec!["?"; chunk.len()].join(",");
        let sql = format!(
            "UPDATE deliveries
             SET status = 'sent', sent_at = ?, next_attempt_at = NULL,
                 lease_run = NULL, lease_until = NULL
             WHERE id IN ({placeholders})"
        );
        // Only `?` placeholders are formatted in; the ids are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ts(now));
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows changed (0: no such delivery).
async fn set_failed(
    conn: &mut sqlx::SqliteConnection,
    id: i64,
    now: DateTime<Utc>,
    error: &str,
    next_attempt_at: Option<DateTime<Utc>>,
    dead: bool,
) -> Result<u64, sqlx::Error> {
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let (status, next) = if dead {
        (DeliveryStatus::Dead, None)
    } else {
        (
            DeliveryStatus::Retrying,
            Some(ts(next_attempt_at.unwrap_or(now))),
        )
    };
    let done = sqlx::query(
        "UPDATE deliveries
         SET status = ?2, next_attempt_at = ?3, last_error = ?4,
             lease_run = NULL, lease_until = NULL
         WHERE id = ?1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(next)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

async fn set_released(conn: &mut sqlx::SqliteConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries
         SET status = CASE WHEN attempts <= 1 THEN 'pending' ELSE 'retrying' END,
             attempts = MAX(attempts - 1, 0), next_attempt_at = NULL,
             lease_run = NULL, lease_until = NULL
         WHERE id = ?1 AND status = 'sending'",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn disable_subscriber(
    store: &SqliteStore,
    blog: &str,
    subscriber: &str,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<(), StateError> {
    let what = "disabling a subscriber";
    let mut tx = store.begin_immediate(what).await?;
    sqlx::query(
        "INSERT INTO disabled_subscribers (blog, subscriber, disabled_at, reason)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (blog, subscriber) DO NOTHING",
    )
    .bind(blog)
    .bind(subscriber)
    .bind(ts(now))
    .bind(reason)
    .execute(&mut *tx)
    .await
    .map_err(store.err(what))?;
    let error: String = format!("subscriber disabled: {reason}")
        .chars()
        .take(MAX_ERROR_CHARS)
        .collect();
    sqlx::query(
        "UPDATE deliveries
         SET status = 'dead', next_attempt_at = NULL, last_error = ?3
         WHERE blog = ?1 AND subscriber = ?2 AND status IN ('pending', 'retrying')",
    )
    .bind(blog)
    .bind(subscriber)
    .bind(error)
    .execute(&mut *tx)
    .await
    .map_err(store.err(what))?;
    tx.commit().await.map_err(store.err(what))?;
    Ok(())
}

pub(super) async fn retry_dead(
    store: &SqliteStore,
    blog: &str,
    now: DateTime<Utc>,
) -> Result<u64, StateError> {
    // Started over: pending with no attempts, as a new delivery (the
    // backoff starts from the beginning), but the attempts it had are kept
    // apart and its last error stays, for `status` to show as the error
    // from before the retry.
    let done = sqlx::query(
        "UPDATE deliveries
         SET status = 'pending', next_attempt_at = ?2,
             previous_attempts = previous_attempts + attempts, attempts = 0,
             lease_run = NULL, lease_until = NULL
         WHERE blog = ?1 AND status = 'dead'",
    )
    .bind(blog)
    .bind(ts(now))
    .execute(&store.pool)
    .await
    .map_err(store.err("retrying dead deliveries"))?;
    Ok(done.rows_affected())
}

pub(super) async fn retry_now(
    store: &SqliteStore,
    blog: &str,
    id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<u64, StateError> {
    let what = "bringing retries forward";
    let mut tx = store.begin_immediate(what).await?;
    if let Some(id) = id {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM deliveries WHERE id = ?1 AND blog = ?2")
                .bind(id)
                .bind(blog)
                .fetch_optional(&mut *tx)
                .await
                .map_err(store.err(what))?;
        crate::state::check_waiting(status, id, &store.at())?;
    }
    let done = sqlx::query(
        "UPDATE deliveries SET next_attempt_at = ?3
         WHERE blog = ?1 AND status = 'retrying' AND (?2 IS NULL OR id = ?2)
           AND (next_attempt_at IS NULL OR next_attempt_at > ?3)",
    )
    .bind(blog)
    .bind(id)
    .bind(ts(now))
    .execute(&mut *tx)
    .await
    .map_err(store.err(what))?;
    tx.commit().await.map_err(store.err(what))?;
    Ok(done.rows_affected())
}

pub(super) async fn held_for(
    store: &SqliteStore,
    blog: &str,
    subscriber: &str,
) -> Result<Vec<Claimed>, StateError> {
    sqlx::query_as(
        "SELECT d.id, d.subscriber, d.channel, p.body AS payload, d.attempts, d.created_at,
                d.hold_until
         FROM deliveries d JOIN payloads p ON p.id = d.payload_id
         WHERE d.blog = ?1 AND d.subscriber = ?2 AND d.status = 'pending'
           AND d.hold_until IS NOT NULL
         ORDER BY d.id",
    )
    .bind(blog)
    .bind(subscriber)
    .fetch_all(&store.pool)
    .await
    .map_err(store.err("reading held deliveries"))
}

pub(super) async fn merge_into(
    store: &SqliteStore,
    keep: i64,
    merged: &[i64],
    payload: &str,
) -> Result<(), StateError> {
    let what = "merging deliveries into a digest";
    let mut tx = store.begin_immediate(what).await?;
    let payload_id = store_payload(&mut tx, payload, &payload_sha256(payload))
        .await
        .map_err(store.err(what))?;
    let done = sqlx::query("UPDATE deliveries SET payload_id = ?2 WHERE id = ?1")
        .bind(keep)
        .bind(payload_id)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    store.one_row(keep, done.rows_affected())?;
    let note = format!("merged into digest #{keep}");
    for &id in merged.iter().filter(|&&id| id != keep) {
        let done = sqlx::query(
            "UPDATE deliveries
             SET status = 'sent', last_error = ?3, next_attempt_at = NULL,
                 lease_run = NULL, lease_until = NULL
             WHERE id = ?1 AND status = 'pending'
               AND (blog, subscriber) = (SELECT blog, subscriber FROM deliveries WHERE id = ?2)",
        )
        .bind(id)
        .bind(keep)
        .bind(&note)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
        if done.rows_affected() != 1 {
            // Dropping the transaction rolls it back.
            return Err(StateError::Invalid {
                path: store.at(),
                message: format!(
                    "cannot merge delivery #{id} into digest #{keep}: \
                     not a pending delivery of the same subscriber"
                ),
            });
        }
    }
    tx.commit().await.map_err(store.err(what))?;
    Ok(())
}
