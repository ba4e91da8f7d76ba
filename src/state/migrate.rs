//! `postbode state migrate`: copies an SQLite state into an empty PostgreSQL
//! database, row by row with the same ids, so that a user who outgrows one
//! machine keeps the history (nothing old is announced again) and every
//! open delivery (a pending digest, a retry, a dead row to revive) keeps its
//! identity on the wire.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, StateError};
use crate::config::DatabaseUrl;
use crate::state::Located as _;

/// Rows per INSERT: the columns travel as arrays, so this bounds the size
/// of one statement, not a parameter count.
const CHUNK: usize = 5000;

/// How many rows of each table were copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Copied {
    pub posts: u64,
    pub runs: u64,
    pub deliveries: u64,
    pub disabled_subscribers: u64,
    /// Sign-ups of `postbode serve`, pending ones too.
    pub subscriptions: u64,
    /// Definition subscribers who unsubscribed through a link.
    pub opt_outs: u64,
}

type PostRow = (
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);
type RunRow = (
    i64,
    String,
    i64,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    Option<String>,
);
type DisabledRow = (String, String, DateTime<Utc>, String, Option<String>);

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    blog: String,
    post_key: String,
    subscriber: String,
    channel: String,
    payload: String,
    status: String,
    attempts: i64,
    previous_attempts: i64,
    hold_until: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
    lease_run: Option<i64>,
    lease_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

/// Copies the state file `from` into the database `to`, in one transaction:
/// all or nothing. Refuses (`Invalid`) a target that already holds a
/// postbode state with any row in it, and a source that is not one.
pub async fn sqlite_to_postgres(from: &Path, to: &DatabaseUrl) -> Result<Copied, StateError> {
    let source = SqliteStore::open_existing(from).await?;
    let target = PgStore::open(to).await?;
    let copied = copy(&source, &target).await;
    source.pool().close().await;
    target.pool().close().await;
    copied
}

async fn copy(source: &SqliteStore, target: &PgStore) -> Result<Copied, StateError> {
    let read = |what: &'static str| {
        move |e: sqlx::Error| StateError::Query {
            path: source.path().to_path_buf(),
            what,
            source: Box::new(e),
        }
    };
    let what = "copying the state";
    let mut tx = target.pool().begin().await.map_err(target.err(what))?;
    // Nobody else may write while we copy (a worker started too early).
    sqlx::query(
        "LOCK TABLE posts, runs, deliveries, disabled_subscribers, subscriptions, opt_outs
         IN ACCESS EXCLUSIVE MODE",
    )
    .execute(&mut *tx)
    .await
    .map_err(target.err(what))?;
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM posts) + (SELECT COUNT(*) FROM runs)
              + (SELECT COUNT(*) FROM deliveries) + (SELECT COUNT(*) FROM disabled_subscribers)
              + (SELECT COUNT(*) FROM subscriptions) + (SELECT COUNT(*) FROM opt_outs)",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(target.err(what))?;
    if rows > 0 {
        return Err(StateError::Invalid {
            path: target.at(),
            message: format!(
                "the database already holds a postbode state ({rows} rows); \
                 `state migrate` copies only into an empty one, so that nothing \
                 is mixed or announced twice"
            ),
        });
    }
    let mut copied = Copied::default();

    let posts: Vec<PostRow> = sqlx::query_as(
        "SELECT blog, key, permalink, title, first_seen_at, published_at, announced_at
         FROM posts ORDER BY blog, key",
    )
    .fetch_all(source.pool())
    .await
    .map_err(read("reading posts"))?;
    for chunk in posts.chunks(CHUNK) {
        let done = sqlx::query(
            "INSERT INTO posts
                 (blog, key, permalink, title, first_seen_at, published_at, announced_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                                  $5::timestamptz[], $6::timestamptz[], $7::timestamptz[])",
        )
        .bind(chunk.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.3.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.4).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.5).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.6).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(target.err(what))?;
        copied.posts += done.rows_affected();
    }

    let runs: Vec<RunRow> = sqlx::query_as(
        "SELECT id, blog, pid, hostname, started_at, finished_at, status, summary
         FROM runs ORDER BY id",
    )
    .fetch_all(source.pool())
    .await
    .map_err(read("reading runs"))?;
    for chunk in runs.chunks(CHUNK) {
        // A run still `running` in the file is not running here: it has no
        // session, so its claimed deliveries are free at once.
        let done = sqlx::query(
            "INSERT INTO runs (id, blog, pid, hostname, started_at, finished_at, status, summary)
             SELECT i, b, p, h, s, f, CASE WHEN st = 'running' THEN 'abandoned' ELSE st END, su
             FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[],
                         $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[])
                  AS r (i, b, p, h, s, f, st, su)",
        )
        .bind(chunk.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.2).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.3.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.4).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.5).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.6.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.7.as_deref()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(target.err(what))?;
        copied.runs += done.rows_affected();
    }

    let deliveries: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT id, blog, post_key, subscriber, channel, payload, status, attempts,
                previous_attempts, hold_until, next_attempt_at, lease_run, lease_until,
                last_error, sent_at, created_at
         FROM deliveries ORDER BY id",
    )
    .fetch_all(source.pool())
    .await
    .map_err(read("reading deliveries"))?;
    for chunk in deliveries.chunks(CHUNK) {
        let done = sqlx::query(
            "INSERT INTO deliveries
                 (id, blog, post_key, subscriber, channel, payload, status, attempts,
                  previous_attempts, hold_until, next_attempt_at, lease_run, lease_until,
                  last_error, sent_at, created_at)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[], $8::bigint[], $9::bigint[],
                                  $10::timestamptz[], $11::timestamptz[], $12::bigint[],
                                  $13::timestamptz[], $14::text[], $15::timestamptz[],
                                  $16::timestamptz[])",
        )
        .bind(chunk.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.blog.as_str()).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|r| r.post_key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|r| r.subscriber.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|r| r.channel.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.payload.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.attempts).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|r| r.previous_attempts)
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|r| r.hold_until).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.next_attempt_at).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.lease_run).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.lease_until).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|r| r.last_error.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|r| r.sent_at).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.created_at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(target.err(what))?;
        copied.deliveries += done.rows_affected();
    }

    let disabled: Vec<DisabledRow> = sqlx::query_as(
        "SELECT blog, subscriber, disabled_at, reason, target_sha256
         FROM disabled_subscribers ORDER BY blog, subscriber",
    )
    .fetch_all(source.pool())
    .await
    .map_err(read("reading disabled subscribers"))?;
    for chunk in disabled.chunks(CHUNK) {
        let done = sqlx::query(
            "INSERT INTO disabled_subscribers (blog, subscriber, disabled_at, reason, target_sha256)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[],
                                  $5::text[])",
        )
        .bind(chunk.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.2).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.3.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.4.as_deref()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(target.err(what))?;
        copied.disabled_subscribers += done.rows_affected();
    }

    (copied.subscriptions, copied.opt_outs) = copy_subscriptions(source, target, &mut tx).await?;

    // The copied ids were given explicitly: new ones continue after them,
    // so that no id on the wire is ever used twice (nor a subscriber id).
    for table in ["runs", "deliveries", "subscriptions"] {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                           COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        );
        // Only the table names above are formatted in.
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(target.err(what))?;
    }
    tx.commit().await.map_err(target.err(what))?;
    Ok(copied)
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: i64,
    blog: String,
    kind: String,
    target: String,
    target_key: String,
    format: Option<String>,
    secret: Option<String>,
    label: Option<String>,
    tags: String,
    authors: String,
    digest: String,
    language: String,
    requested_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
    confirm_key: Option<i64>,
    manage_key: i64,
    mailed_at: Option<DateTime<Utc>>,
}

/// The sign-ups with their ids and keys (so links in mail already sent keep
/// working) and the opt-outs. Few rows: one statement per row.
async fn copy_subscriptions(
    source: &SqliteStore,
    target: &PgStore,
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
) -> Result<(u64, u64), StateError> {
    let what = "copying the subscriptions";
    let read = |e: sqlx::Error| StateError::Query {
        path: source.path().to_path_buf(),
        what: "reading the subscriptions",
        source: Box::new(e),
    };
    let rows: Vec<SubscriptionRow> = sqlx::query_as("SELECT * FROM subscriptions ORDER BY id")
        .fetch_all(source.pool())
        .await
        .map_err(read)?;
    let mut copied = 0;
    for r in &rows {
        let done = sqlx::query(
            "INSERT INTO subscriptions (id, blog, kind, target, target_key, format, secret, label,
                 tags, authors, digest, language, requested_at, confirmed_at, confirm_key,
                 manage_key, mailed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(r.id)
        .bind(&r.blog)
        .bind(&r.kind)
        .bind(&r.target)
        .bind(&r.target_key)
        .bind(&r.format)
        .bind(&r.secret)
        .bind(&r.label)
        .bind(&r.tags)
        .bind(&r.authors)
        .bind(&r.digest)
        .bind(&r.language)
        .bind(r.requested_at)
        .bind(r.confirmed_at)
        .bind(r.confirm_key)
        .bind(r.manage_key)
        .bind(r.mailed_at)
        .execute(&mut **tx)
        .await
        .map_err(target.err(what))?;
        copied += done.rows_affected();
    }
    let opt_outs: Vec<(String, String, DateTime<Utc>)> =
        sqlx::query_as("SELECT blog, subscriber, at FROM opt_outs ORDER BY blog, subscriber")
            .fetch_all(source.pool())
            .await
            .map_err(read)?;
    let mut left = 0;
    for (blog, subscriber, at) in &opt_outs {
        let done = sqlx::query("INSERT INTO opt_outs (blog, subscriber, at) VALUES ($1, $2, $3)")
            .bind(blog)
            .bind(subscriber)
            .bind(at)
            .execute(&mut **tx)
            .await
            .map_err(target.err(what))?;
        left += done.rows_affected();
    }
    Ok((copied, left))
}
