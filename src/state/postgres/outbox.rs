//! The outbox's writes on PostgreSQL: recording posts and their deliveries
//! (planning, serialised per blog by an advisory lock), claiming due rows
//! with `FOR UPDATE SKIP LOCKED` so that concurrent workers never lease the
//! same row, settling them, and merging held rows into digests.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{PLANNED_CHANNEL, PgStore, runs};
use crate::state::Located as _;
use crate::state::{
    Announcement, Claimed, ClaimedRef, DeliveryStatus, MAX_ERROR_CHARS, RunGuard, SeenPost,
    Settlement, StateError, after, distinct_payloads, payload_ids, payload_sha256, with_payloads,
};

/// The first key of the planning lock (`pg_advisory_xact_lock(int, int)`,
/// the second being the blog's hash): "pbpl", so that it does not collide
/// with two-integer advisory locks of other software in the same database.
const PLAN_LOCK: i32 = 0x7062_706c;

/// Planning this many deliveries at once refreshes the table's statistics
/// in the same transaction (see `record`).
const ANALYZE_AFTER: usize = 10_000;

/// The deliveries of one post, from parallel arrays (a macro, so that
/// `concat!` can extend it).
macro_rules! insert_deliveries {
    () => {
        "INSERT INTO deliveries
             (blog, post_key, subscriber, channel, payload_id, status, attempts,
              hold_until, created_at)
         SELECT $1, $2, s, c, p, 'pending', 0, h, $3
         FROM UNNEST($4::text[], $5::text[], $6::bigint[], $7::timestamptz[])
              WITH ORDINALITY AS d (s, c, p, h, n)
         ORDER BY n"
    };
}
const INSERT: &str = insert_deliveries!();
/// `INSERT`, leaving out the rows the post has already.
const INSERT_NEW_ONLY: &str = concat!(
    insert_deliveries!(),
    " ON CONFLICT (blog, post_key, subscriber, channel) DO NOTHING"
);

pub(super) async fn record(
    store: &PgStore,
    blog: &str,
    now: DateTime<Utc>,
    seen: &[SeenPost],
    announce: &[Announcement],
) -> Result<usize, StateError> {
    let what = "recording posts and deliveries";
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    // One planner per blog at a time, across every worker: a post that two
    // runs found new at the same moment is planned by the first and found
    // announced by the second. Released at commit or rollback.
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(PLAN_LOCK)
        .bind(blog)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    if !seen.is_empty() {
        let (keys, permalinks, titles, announced) = columns(seen);
        sqlx::query(
            "INSERT INTO posts (blog, key, permalink, title, first_seen_at, announced_at)
             SELECT $1, k, p, t, $2, CASE WHEN a THEN $2 END
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::bool[]) AS s (k, p, t, a)
             ON CONFLICT (blog, key) DO UPDATE SET
                 permalink = excluded.permalink, title = excluded.title,
                 announced_at = COALESCE(posts.announced_at, excluded.announced_at)",
        )
        .bind(blog)
        .bind(now)
        .bind(keys)
        .bind(permalinks)
        .bind(titles)
        .bind(announced)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    }
    let mut inserted = 0;
    for post in announce {
        sqlx::query(
            "INSERT INTO posts
                 (blog, key, permalink, title, first_seen_at, published_at, announced_at)
             VALUES ($1, $2, $3, $4, $5, $6, $5)
             ON CONFLICT (blog, key) DO UPDATE SET
                 permalink = excluded.permalink, title = excluded.title,
                 published_at = COALESCE(posts.published_at, excluded.published_at),
                 announced_at = COALESCE(posts.announced_at, excluded.announced_at)",
        )
        .bind(blog)
        .bind(&post.key)
        .bind(&post.permalink)
        .bind(&post.title)
        .bind(now)
        .bind(post.published_at)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
        if post.deliveries.is_empty() {
            continue;
        }
        let mut stored = std::collections::HashMap::new();
        for (body, sha256) in distinct_payloads(&post.deliveries) {
            let id = store_payload(&mut tx, body, &sha256)
                .await
                .map_err(store.err(what))?;
            stored.insert(body, id);
        }
        // The first of a (subscriber, channel) pair counts, as it would on
        // conflict.
        let mut pairs = std::collections::HashSet::new();
        let d: Vec<&crate::state::NewDelivery> = post
            .deliveries
            .iter()
            .filter(|d| pairs.insert((d.subscriber.as_str(), d.channel.as_str())))
            .collect();
        // Under the lock only this transaction adds deliveries to the blog
        // (`record` is the one place that does): a post that has none yet
        // cannot conflict, and its rows skip ON CONFLICT's speculative
        // insertion, a third of the insert's time for 100,000 rows.
        let fresh: bool = sqlx::query_scalar(
            "SELECT NOT EXISTS (SELECT 1 FROM deliveries WHERE blog = $1 AND post_key = $2)",
        )
        .bind(blog)
        .bind(&post.key)
        .fetch_one(&mut *tx)
        .await
        .map_err(store.err(what))?;
        let subscribers: Vec<&str> = d.iter().map(|d| d.subscriber.as_str()).collect();
        let channels: Vec<&str> = d.iter().map(|d| d.channel.as_str()).collect();
        let payloads: Vec<Option<i64>> = d
            .iter()
            .map(|d| stored.get(d.payload.as_str()).copied())
            .collect();
        let holds: Vec<Option<DateTime<Utc>>> = d.iter().map(|d| d.hold_until).collect();
        // One statement per post, however many subscribers: the arrays
        // travel as four parameters. Only the (post, subscriber, channel)
        // key is ignored on conflict; any other constraint fails loudly.
        let insert = if fresh { INSERT } else { INSERT_NEW_ONLY };
        let done = sqlx::query(insert)
            .bind(blog)
            .bind(&post.key)
            .bind(now)
            .bind(subscribers)
            .bind(channels)
            .bind(payloads)
            .bind(holds)
            .execute(&mut *tx)
            .await
            .map_err(store.err(what))?;
        inserted += done.rows_affected() as usize;
    }
    if inserted >= ANALYZE_AFTER {
        // Until autovacuum's next round (a minute, or more) the planner
        // would take the new rows for a handful and claim them by sorting
        // every open row, once per batch. A table the user does not own is
        // skipped with a warning.
        sqlx::query("ANALYZE deliveries")
            .execute(&mut *tx)
            .await
            .map_err(store.err(what))?;
    }
    if inserted > 0 {
        // Delivered at commit, to every worker that listens: they claim
        // the new rows now instead of at their next round.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(PLANNED_CHANNEL)
            .bind(blog)
            .execute(&mut *tx)
            .await
            .map_err(store.err(what))?;
    }
    tx.commit().await.map_err(store.err(what))?;
    Ok(inserted)
}

/// The id of the payload `body` (whose hash is `sha256`), stored now unless
/// it already was (by this blog or another: a body is stored once).
async fn store_payload(
    conn: &mut sqlx::PgConnection,
    body: &str,
    sha256: &str,
) -> Result<i64, sqlx::Error> {
    let new: Option<i64> = sqlx::query_scalar(
        "INSERT INTO payloads (sha256, body) VALUES ($1, $2)
         ON CONFLICT (sha256) DO NOTHING RETURNING id",
    )
    .bind(sha256)
    .bind(body)
    .fetch_optional(&mut *conn)
    .await?;
    match new {
        Some(id) => Ok(id),
        None => {
            sqlx::query_scalar("SELECT id FROM payloads WHERE sha256 = $1")
                .bind(sha256)
                .fetch_one(&mut *conn)
                .await
        }
    }
}

type PostColumns<'a> = (Vec<&'a str>, Vec<&'a str>, Vec<&'a str>, Vec<bool>);

fn columns(seen: &[SeenPost]) -> PostColumns<'_> {
    (
        seen.iter().map(|p| p.key.as_str()).collect(),
        seen.iter().map(|p| p.permalink.as_str()).collect(),
        seen.iter().map(|p| p.title.as_str()).collect(),
        seen.iter().map(|p| p.announced).collect(),
    )
}

pub(super) async fn claim_due(
    store: &PgStore,
    blog: &str,
    run: &RunGuard,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Claimed>, StateError> {
    let what = "claiming due deliveries";
    if blog != run.blog || !runs::is_alive(store, &store.pool, run, what).await? {
        return Err(store.lock_lost(run));
    }
    let lease_end = after(now, lease);
    // SKIP LOCKED: rows another worker is claiming right now are left to
    // it, not waited for. A `sending` row is due again when its lease ran
    // out (a vanished machine) or its run's session is gone (a killed
    // process); the receiver drops the duplicate by the row's id. The ids
    // come as an array, so that the update finds its rows by the primary
    // key: joined to a subquery, the planner would rather read the whole
    // table (history included) into a hash. The blog is compared as a range
    // and the rows ordered by (blog, id), an order only `deliveries_open`
    // gives: ordered by id alone, the planner may walk the primary key
    // through every row already sent before it finds a due one.
    //
    // Like an outcome (see `set_sent_at`), a claim is committed without
    // waiting for the flush: the sending waits for each claim. Should the
    // server crash and lose it, everything written after it is lost too
    // (the log is one sequence), and its rows are due again under the same
    // ids: what is sent again carries the same message id / webhook-id.
    // Planning, which gives the rows their ids, stays synchronous.
    let claimed: Vec<ClaimedRef> = sqlx::query_as(
        "WITH no_flush AS (SELECT set_config('synchronous_commit', 'off', true) AS v)
         UPDATE deliveries d
         SET status = 'sending', lease_run = $2, lease_until = $4,
             attempts = d.attempts + 1, next_attempt_at = $4
         WHERE (SELECT v FROM no_flush) = 'off' AND d.id = ANY(ARRAY(
             SELECT id FROM deliveries
             WHERE blog >= $1 AND blog <= $1
               AND NOT closed AND (
                 (status IN ('pending', 'retrying')
                  AND (next_attempt_at IS NULL OR next_attempt_at <= $3)
                  AND (hold_until IS NULL OR hold_until <= $3))
                 OR (status = 'sending'
                     AND (lease_until IS NULL OR lease_until <= $3 OR lease_run IS NULL
                          OR lease_run NOT IN (SELECT postbode_live_runs()))))
             ORDER BY blog, id LIMIT $5
             FOR UPDATE SKIP LOCKED))
         RETURNING d.id, d.subscriber, d.channel, d.payload_id, d.attempts, d.created_at,
                   d.hold_until",
    )
    .bind(blog)
    .bind(run.run_id)
    .bind(now)
    .bind(lease_end)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&store.pool)
    .await
    .map_err(store.err(what))?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    // Payloads are never changed or deleted: reading them after the claim
    // (not in its transaction) reads what the rows refer to.
    let bodies: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, body FROM payloads WHERE id = ANY($1)")
            .bind(payload_ids(&claimed))
            .fetch_all(&store.pool)
            .await
            .map_err(store.err(what))?;
    with_payloads(claimed, bodies, &store.at())
}

pub(super) async fn mark_sent(
    store: &PgStore,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    let done = sqlx::query(
        "UPDATE deliveries
         SET status = 'sent', sent_at = $2, next_attempt_at = NULL,
             lease_run = NULL, lease_until = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&store.pool)
    .await
    .map_err(store.err("marking a delivery sent"))?;
    store.one_row(id, done.rows_affected())
}

pub(super) async fn mark_sent_many(
    store: &PgStore,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    if ids.is_empty() {
        return Ok(());
    }
    set_sent(&store.pool, ids, now)
        .await
        .map_err(store.err("marking deliveries sent"))
}

pub(super) async fn mark_failed(
    store: &PgStore,
    id: i64,
    now: DateTime<Utc>,
    error: &str,
    next_attempt_at: Option<DateTime<Utc>>,
    dead: bool,
) -> Result<(), StateError> {
    let done = set_failed(&store.pool, id, now, error, next_attempt_at, dead)
        .await
        .map_err(store.err("recording a failed delivery"))?;
    store.one_row(id, done)
}

pub(super) async fn release(store: &PgStore, id: i64) -> Result<(), StateError> {
    set_released(&store.pool, id)
        .await
        .map_err(store.err("releasing a delivery"))
}

/// Many outcomes at once. The sent rows (nearly always all of them) are one
/// statement, whatever their times; failures and releases, which are rare,
/// one statement each, all in one transaction.
pub(super) async fn settle(store: &PgStore, outcomes: &[Settlement]) -> Result<(), StateError> {
    let what = "recording what was sent";
    let mut sent_ids = Vec::with_capacity(outcomes.len());
    let mut sent_at = Vec::with_capacity(outcomes.len());
    let mut others = Vec::new();
    for outcome in outcomes {
        match outcome {
            Settlement::Sent { id, at } => {
                sent_ids.push(*id);
                sent_at.push(*at);
            }
            other => others.push(other),
        }
    }
    if others.is_empty() {
        if sent_ids.is_empty() {
            return Ok(());
        }
        // One statement is its own transaction: one round trip.
        return set_sent_at(&store.pool, &sent_ids, &sent_at)
            .await
            .map_err(store.err(what));
    }
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    for outcome in others {
        match outcome {
            Settlement::Failed {
                id,
                at,
                error,
                next_attempt_at,
                dead,
            } => {
                set_failed(&mut *tx, *id, *at, error, *next_attempt_at, *dead)
                    .await
                    .map_err(store.err(what))?;
            }
            Settlement::Released { id } => {
                set_released(&mut *tx, *id).await.map_err(store.err(what))?;
            }
            // Set apart above.
            Settlement::Sent { .. } => {}
        }
    }
    if !sent_ids.is_empty() {
        set_sent_at(&mut *tx, &sent_ids, &sent_at)
            .await
            .map_err(store.err(what))?;
    }
    tx.commit().await.map_err(store.err(what))?;
    Ok(())
}

/// Marks rows `ids[i]` sent at `at[i]`, committed without waiting for the
/// WAL to reach the disk: a send slot is freed only once its outcome is
/// committed, so the flush would otherwise bound the sending rate. What
/// this risks is the one thing SQLite's `synchronous = NORMAL` risks: a
/// crash of the database server itself may undo the last outcomes, and
/// those messages are sent again with the same id (claims take the same
/// risk; planning stays synchronous). `set_config(…, true)` lasts until the end of the
/// transaction, which for a statement of its own is this statement: the
/// setting needs no separate `SET LOCAL` (a round trip) and never outlives
/// it. The ids are also given as `= ANY`, so that the rows are found by the
/// primary key whatever the planner guesses of the unnested pairs.
async fn set_sent_at(
    conn: impl sqlx::PgExecutor<'_>,
    ids: &[i64],
    at: &[DateTime<Utc>],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH no_flush AS (SELECT set_config('synchronous_commit', 'off', true) AS v)
         UPDATE deliveries d
         SET status = 'sent', sent_at = u.at, next_attempt_at = NULL,
             lease_run = NULL, lease_until = NULL
         FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, at)
         WHERE d.id = u.id AND d.id = ANY($1) AND (SELECT v FROM no_flush) = 'off'",
    )
    .bind(ids)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_sent(
    conn: impl sqlx::PgExecutor<'_>,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries
         SET status = 'sent', sent_at = $1, next_attempt_at = NULL,
             lease_run = NULL, lease_until = NULL
         WHERE id = ANY($2)",
    )
    .bind(now)
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Rows changed (0: no such delivery).
async fn set_failed(
    conn: impl sqlx::PgExecutor<'_>,
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
            Some(next_attempt_at.unwrap_or(now)),
        )
    };
    let done = sqlx::query(
        "UPDATE deliveries
         SET status = $2, next_attempt_at = $3, last_error = $4,
             lease_run = NULL, lease_until = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(next)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

async fn set_released(conn: impl sqlx::PgExecutor<'_>, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries
         SET status = CASE WHEN attempts <= 1 THEN 'pending' ELSE 'retrying' END,
             attempts = GREATEST(attempts - 1, 0), next_attempt_at = NULL,
             lease_run = NULL, lease_until = NULL
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn disable_subscriber(
    store: &PgStore,
    blog: &str,
    subscriber: &str,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<(), StateError> {
    let what = "disabling a subscriber";
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    sqlx::query(
        "INSERT INTO disabled_subscribers (blog, subscriber, disabled_at, reason)
         VALUES ($1, $2, $3, $4) ON CONFLICT (blog, subscriber) DO NOTHING",
    )
    .bind(blog)
    .bind(subscriber)
    .bind(now)
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
         SET status = 'dead', next_attempt_at = NULL, last_error = $3
         WHERE blog = $1 AND subscriber = $2 AND NOT closed
           AND status IN ('pending', 'retrying')",
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
    store: &PgStore,
    blog: &str,
    now: DateTime<Utc>,
) -> Result<u64, StateError> {
    // As on SQLite: started over, the earlier attempts kept apart.
    let done = sqlx::query(
        "UPDATE deliveries
         SET status = 'pending', next_attempt_at = $2,
             previous_attempts = previous_attempts + attempts, attempts = 0,
             lease_run = NULL, lease_until = NULL
         WHERE blog = $1 AND status = 'dead'",
    )
    .bind(blog)
    .bind(now)
    .execute(&store.pool)
    .await
    .map_err(store.err("retrying dead deliveries"))?;
    Ok(done.rows_affected())
}

pub(super) async fn retry_now(
    store: &PgStore,
    blog: &str,
    id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<u64, StateError> {
    let what = "bringing retries forward";
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    if let Some(id) = id {
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM deliveries WHERE id = $1 AND blog = $2 FOR UPDATE",
        )
        .bind(id)
        .bind(blog)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store.err(what))?;
        crate::state::check_waiting(status, id, &store.at())?;
    }
    let done = sqlx::query(
        "UPDATE deliveries SET next_attempt_at = $3
         WHERE blog = $1 AND NOT closed AND status = 'retrying'
           AND ($2::bigint IS NULL OR id = $2)
           AND (next_attempt_at IS NULL OR next_attempt_at > $3)",
    )
    .bind(blog)
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(store.err(what))?;
    tx.commit().await.map_err(store.err(what))?;
    Ok(done.rows_affected())
}

pub(super) async fn held_for(
    store: &PgStore,
    blog: &str,
    subscriber: &str,
) -> Result<Vec<Claimed>, StateError> {
    sqlx::query_as(
        "SELECT d.id, d.subscriber, d.channel, p.body AS payload, d.attempts, d.created_at,
                d.hold_until
         FROM deliveries d JOIN payloads p ON p.id = d.payload_id
         WHERE d.blog = $1 AND NOT d.closed AND d.subscriber = $2 AND d.status = 'pending'
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
    store: &PgStore,
    keep: i64,
    merged: &[i64],
    payload: &str,
) -> Result<(), StateError> {
    let what = "merging deliveries into a digest";
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    let payload_id = store_payload(&mut tx, payload, &payload_sha256(payload))
        .await
        .map_err(store.err(what))?;
    // The digest's row is locked before the rows merged into it, so two
    // workers merging the same subscriber's digest take turns; the second
    // finds the rows merged and changes nothing (all or nothing).
    let done = sqlx::query("UPDATE deliveries SET payload_id = $2 WHERE id = $1")
        .bind(keep)
        .bind(payload_id)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    store.one_row(keep, done.rows_affected())?;
    let others: Vec<i64> = merged.iter().copied().filter(|&id| id != keep).collect();
    let done = sqlx::query(
        "UPDATE deliveries
         SET status = 'sent', last_error = 'merged into digest #' || $2::bigint,
             next_attempt_at = NULL, lease_run = NULL, lease_until = NULL
         WHERE id = ANY($1) AND status = 'pending'
           AND (blog, subscriber) = (SELECT blog, subscriber FROM deliveries WHERE id = $2)",
    )
    .bind(&others)
    .bind(keep)
    .execute(&mut *tx)
    .await
    .map_err(store.err(what))?;
    if done.rows_affected() != others.len() as u64 {
        // Dropping the transaction rolls it back.
        return Err(StateError::Invalid {
            path: store.at(),
            message: format!(
                "cannot merge deliveries {others:?} into digest #{keep}: \
                 not all are pending deliveries of the same subscriber"
            ),
        });
    }
    tx.commit().await.map_err(store.err(what))?;
    Ok(())
}
