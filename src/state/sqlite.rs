//! The SQLite backend of the state store: one file (WAL mode, so `postbode
//! status` can read while a run writes), migrated on open with the migrations
//! embedded from `src/state/migrations/`. Write transactions start with
//! `BEGIN IMMEDIATE`: a deferred transaction that reads before it writes
//! fails at once with SQLITE_BUSY when another connection wrote in between,
//! instead of waiting out the busy timeout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::lock::{self, Holder, LiveRun};
use super::{
    Announcement, Claimed, DeliveryRow, DeliveryStatus, MAX_ERROR_CHARS, RunGuard, SeenPost,
    StateError, after, ts,
};

/// How long a write waits for another connection's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often `begin_run` looks at a held lock again.
const LOCK_POLL: Duration = Duration::from_millis(250);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/state/migrations");

/// The state database. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// As given to `open`, for messages.
    path: Arc<PathBuf>,
    /// Canonical, to recognise this process's runs on the same file.
    key: Arc<PathBuf>,
}

impl Store {
    /// Opens an existing state for reading only, for `--dry-run`: nothing is
    /// created, migrated or written, so the file's bytes stay as they are.
    /// `None` when there is no state yet (a first run).
    pub async fn open_read_only(path: &Path) -> Result<Option<Store>, StateError> {
        if !path.exists() {
            return Ok(None);
        }
        // immutable: SQLite then takes no locks and creates no -wal/-shm
        // files; a state written by a cleanly finished run has its WAL
        // checkpointed into the main file.
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| StateError::Open {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Some(Store {
            pool,
            path: Arc::new(path.to_path_buf()),
            key: Arc::new(key),
        }))
    }

    /// Opens (creating the folder and the file when missing) and migrates.
    pub async fn open(path: &Path) -> Result<Store, StateError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL survives a process crash (the case that
            // matters: a killed run); only a power cut may undo the last
            // commits, which at worst resends a message with the same id.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| StateError::Open {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        MIGRATOR.run(&pool).await.map_err(|e| StateError::Migrate {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Store {
            pool,
            path: Arc::new(path.to_path_buf()),
            key: Arc::new(key),
        })
    }

    /// The file this store was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connections (checkpointing the WAL); dropping the store
    /// also closes them, just not before this returns.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Takes the blog's run lock, waiting up to `wait` for a live holder to
    /// let go; a dead holder's lock is taken over at once and its run marked
    /// abandoned. Records the run.
    pub async fn begin_run(
        &self,
        blog: &str,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> Result<RunGuard, StateError> {
        let started = Instant::now();
        let me = lock::me();
        loop {
            // The clock moves on while we wait; `now` is when we were asked.
            let now_here = after(now, started.elapsed());
            let what = "taking the run lock";
            let mut tx = self.begin_immediate(what).await?;
            let holder = sqlx::query(
                "SELECT run_id, pid, hostname, proc_start, heartbeat_at
                 FROM run_locks WHERE blog = ?1",
            )
            .bind(blog)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.err(what))?
            .map(|row| self.holder(&row))
            .transpose()?;
            match holder {
                Some(holder) if lock::is_alive(&self.key, &holder, now_here) => {
                    tx.rollback().await.map_err(self.err(what))?;
                    let waited = started.elapsed();
                    if waited >= wait {
                        return Err(StateError::Locked {
                            path: self.at(),
                            blog: blog.to_string(),
                            holder: holder.describe(),
                        });
                    }
                    tokio::time::sleep(LOCK_POLL.min(wait - waited)).await;
                }
                dead => {
                    if let Some(dead) = dead {
                        sqlx::query(
                            "UPDATE runs SET status = 'abandoned'
                             WHERE id = ?1 AND status = 'running'",
                        )
                        .bind(dead.run_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(self.err(what))?;
                    }
                    let stamp = ts(now_here);
                    let run_id: i64 = sqlx::query_scalar(
                        "INSERT INTO runs (blog, pid, hostname, started_at, status)
                         VALUES (?1, ?2, ?3, ?4, 'running') RETURNING id",
                    )
                    .bind(blog)
                    .bind(i64::from(me.pid))
                    .bind(&me.hostname)
                    .bind(&stamp)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(self.err(what))?;
                    sqlx::query(
                        "INSERT INTO run_locks
                             (blog, run_id, pid, hostname, proc_start, acquired_at, heartbeat_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                         ON CONFLICT (blog) DO UPDATE SET
                             run_id = excluded.run_id, pid = excluded.pid,
                             hostname = excluded.hostname, proc_start = excluded.proc_start,
                             acquired_at = excluded.acquired_at,
                             heartbeat_at = excluded.heartbeat_at",
                    )
                    .bind(blog)
                    .bind(run_id)
                    .bind(i64::from(me.pid))
                    .bind(&me.hostname)
                    .bind(&me.proc_start)
                    .bind(&stamp)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err(what))?;
                    // Registered before the commit so the lock never looks
                    // dead to another task of this process.
                    let live = LiveRun::register(&self.key, run_id);
                    tx.commit().await.map_err(self.err(what))?;
                    return Ok(RunGuard {
                        run_id,
                        blog: blog.to_string(),
                        _live: live,
                    });
                }
            }
        }
    }

    /// Tells runs on other hosts that this one is alive. Fails with
    /// `LockLost` when another run has taken the lock over.
    pub async fn heartbeat(&self, run: &RunGuard, now: DateTime<Utc>) -> Result<(), StateError> {
        let done =
            sqlx::query("UPDATE run_locks SET heartbeat_at = ?3 WHERE blog = ?1 AND run_id = ?2")
                .bind(&run.blog)
                .bind(run.run_id)
                .bind(ts(now))
                .execute(&self.pool)
                .await
                .map_err(self.err("recording a heartbeat"))?;
        if done.rows_affected() == 0 {
            return Err(self.lock_lost(run));
        }
        Ok(())
    }

    /// Releases the lock and stores the run's summary (JSON).
    pub async fn finish_run(
        &self,
        run: RunGuard,
        now: DateTime<Utc>,
        summary_json: &str,
    ) -> Result<(), StateError> {
        let what = "finishing the run";
        let mut tx = self.begin_immediate(what).await?;
        sqlx::query(
            "UPDATE runs SET finished_at = ?2, status = 'finished', summary = ?3 WHERE id = ?1",
        )
        .bind(run.run_id)
        .bind(ts(now))
        .bind(summary_json)
        .execute(&mut *tx)
        .await
        .map_err(self.err(what))?;
        // Only our own lock: if it was taken over, the new holder keeps it.
        sqlx::query("DELETE FROM run_locks WHERE blog = ?1 AND run_id = ?2")
            .bind(&run.blog)
            .bind(run.run_id)
            .execute(&mut *tx)
            .await
            .map_err(self.err(what))?;
        tx.commit().await.map_err(self.err(what))?;
        Ok(())
    }

    /// Whether any post was ever recorded for this blog (if not, this is a
    /// first run, which announces nothing).
    pub async fn has_history(&self, blog: &str) -> Result<bool, StateError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM posts WHERE blog = ?1)")
            .bind(blog)
            .fetch_one(&self.pool)
            .await
            .map_err(self.err("looking for recorded posts"))
    }

    /// Every recorded post of the blog, by key.
    pub async fn seen_posts(&self, blog: &str) -> Result<Vec<SeenPost>, StateError> {
        let rows = sqlx::query(
            "SELECT key, permalink, title, announced_at IS NOT NULL AS announced
             FROM posts WHERE blog = ?1 ORDER BY key",
        )
        .bind(blog)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("reading recorded posts"))?;
        rows.iter()
            .map(|row| {
                Ok(SeenPost {
                    key: self.get(row, "key")?,
                    permalink: self.get(row, "permalink")?,
                    title: self.get(row, "title")?,
                    announced: self.get(row, "announced")?,
                })
            })
            .collect()
    }

    /// In one transaction: records `seen` posts (see `SeenPost::announced`),
    /// marks `announce`d posts announced and inserts their deliveries, each
    /// at most once per (post, subscriber, channel). Returns how many
    /// deliveries were new.
    pub async fn record(
        &self,
        blog: &str,
        now: DateTime<Utc>,
        seen: &[SeenPost],
        announce: &[Announcement],
    ) -> Result<usize, StateError> {
        let what = "recording posts and deliveries";
        let stamp = ts(now);
        let mut tx = self.begin_immediate(what).await?;
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
            .map_err(self.err(what))?;
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
            .map_err(self.err(what))?;
            // Many rows per statement: one statement per delivery costs a
            // round trip to SQLite's worker thread each, which dominates a
            // post announced to thousands of subscribers.
            for chunk in post.deliveries.chunks(100) {
                // Only the (post, subscriber, channel) key is ignored on
                // conflict; any other constraint still fails loudly.
                let values = vec!["(?, ?, ?, ?, ?, 'pending', 0, ?, ?)"; chunk.len()].join(", ");
                let sql = format!(
                    "INSERT INTO deliveries
                         (blog, post_key, subscriber, channel, payload, status, attempts,
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
                        .bind(&delivery.payload)
                        .bind(delivery.hold_until.map(ts))
                        .bind(&stamp);
                }
                let done = q.execute(&mut *tx).await.map_err(self.err(what))?;
                inserted += done.rows_affected() as usize;
            }
        }
        tx.commit().await.map_err(self.err(what))?;
        Ok(inserted)
    }

    /// Leases up to `limit` due deliveries to `run`, oldest first: pending or
    /// retrying rows whose next attempt and hold time have come, and rows
    /// still `sending` whose lease expired or whose run no longer holds the
    /// lock (it died mid-send; the receiver drops the duplicate by id).
    pub async fn claim_due(
        &self,
        blog: &str,
        run: &RunGuard,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StateError> {
        let what = "claiming due deliveries";
        let mut tx = self.begin_immediate(what).await?;
        let holder: Option<i64> =
            sqlx::query_scalar("SELECT run_id FROM run_locks WHERE blog = ?1")
                .bind(blog)
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.err(what))?;
        if blog != run.blog || holder != Some(run.run_id) {
            return Err(self.lock_lost(run));
        }
        let stamp = ts(now);
        let rows = sqlx::query(
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
             RETURNING id, subscriber, channel, payload, attempts, created_at, hold_until",
        )
        .bind(blog)
        .bind(run.run_id)
        .bind(&stamp)
        .bind(ts(after(now, lease)))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(self.err(what))?;
        let mut claimed = rows
            .iter()
            .map(|row| self.claimed(row))
            .collect::<Result<Vec<_>, _>>()?;
        // Should the process die mid-send, `next_attempt_at` (the end of the
        // lease) shows in `status` when the row will be tried again at the
        // latest.
        tx.commit().await.map_err(self.err(what))?;
        // RETURNING gives no order guarantee.
        claimed.sort_by_key(|delivery| delivery.id);
        Ok(claimed)
    }

    pub async fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StateError> {
        let done = sqlx::query(
            "UPDATE deliveries
             SET status = 'sent', sent_at = ?2, next_attempt_at = NULL,
                 lease_run = NULL, lease_until = NULL
             WHERE id = ?1",
        )
        .bind(id)
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(self.err("marking a delivery sent"))?;
        self.one_row(id, done.rows_affected())
    }

    /// Many sent deliveries in one transaction: a fast sender would
    /// otherwise spend its time committing one row at a time.
    pub async fn mark_sent_many(&self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StateError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(self.err("marking deliveries sent"))?;
        for chunk in ids.chunks(500) {
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
            q.execute(&mut *tx)
                .await
                .map_err(self.err("marking deliveries sent"))?;
        }
        tx.commit()
            .await
            .map_err(self.err("marking deliveries sent"))?;
        Ok(())
    }

    /// A failed attempt: `retrying` at `next_attempt_at` (none: due at
    /// `now`), or `dead` for good. Keeps the first `MAX_ERROR_CHARS`
    /// characters of the error.
    pub async fn mark_failed(
        &self,
        id: i64,
        now: DateTime<Utc>,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
        dead: bool,
    ) -> Result<(), StateError> {
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
        .execute(&self.pool)
        .await
        .map_err(self.err("recording a failed delivery"))?;
        self.one_row(id, done.rows_affected())
    }

    /// Gives a claimed row back as if it had not been claimed (shutdown):
    /// due at once, the attempt not counted. Rows not `sending` are left alone.
    pub async fn release(&self, id: i64) -> Result<(), StateError> {
        sqlx::query(
            "UPDATE deliveries
             SET status = CASE WHEN attempts <= 1 THEN 'pending' ELSE 'retrying' END,
                 attempts = MAX(attempts - 1, 0), next_attempt_at = NULL,
                 lease_run = NULL, lease_until = NULL
             WHERE id = ?1 AND status = 'sending'",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(self.err("releasing a delivery"))?;
        Ok(())
    }

    /// Switches a subscriber off (the first reason is kept) and marks its
    /// waiting deliveries dead, so later runs do not send to a receiver that
    /// said it is gone. Rows being sent right now are the caller's to settle.
    pub async fn disable_subscriber(
        &self,
        blog: &str,
        subscriber: &str,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), StateError> {
        let what = "disabling a subscriber";
        let mut tx = self.begin_immediate(what).await?;
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
        .map_err(self.err(what))?;
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
        .map_err(self.err(what))?;
        tx.commit().await.map_err(self.err(what))?;
        Ok(())
    }

    /// (subscriber, reason) pairs, by subscriber.
    pub async fn disabled_subscribers(
        &self,
        blog: &str,
    ) -> Result<Vec<(String, String)>, StateError> {
        let rows = sqlx::query(
            "SELECT subscriber, reason FROM disabled_subscribers WHERE blog = ?1 ORDER BY subscriber",
        )
        .bind(blog)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("reading disabled subscribers"))?;
        rows.iter()
            .map(|row| Ok((self.get(row, "subscriber")?, self.get(row, "reason")?)))
            .collect()
    }

    /// Deliveries not sent (pending, sending, retrying, dead), oldest first.
    pub async fn open_deliveries(&self, blog: &str) -> Result<Vec<DeliveryRow>, StateError> {
        let rows = sqlx::query(
            "SELECT id, post_key, subscriber, channel, status, attempts, next_attempt_at,
                    last_error, sent_at, created_at
             FROM deliveries WHERE blog = ?1 AND status <> 'sent'
             ORDER BY created_at, id",
        )
        .bind(blog)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("reading open deliveries"))?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryRow {
                    id: self.get(row, "id")?,
                    post_key: self.get(row, "post_key")?,
                    subscriber: self.get(row, "subscriber")?,
                    channel: self.get(row, "channel")?,
                    status: self.status(row)?,
                    attempts: self.attempts(row)?,
                    next_attempt_at: self.time_opt(row, "next_attempt_at")?,
                    last_error: self.get(row, "last_error")?,
                    sent_at: self.time_opt(row, "sent_at")?,
                    created_at: self.time(row, "created_at")?,
                })
            })
            .collect()
    }

    /// Deliveries per status; every status is present, zero or not.
    pub async fn counts(&self, blog: &str) -> Result<BTreeMap<String, u64>, StateError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE blog = ?1 GROUP BY status",
        )
        .bind(blog)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("counting deliveries"))?;
        let mut counts: BTreeMap<String, u64> = DeliveryStatus::ALL
            .iter()
            .map(|status| (status.as_str().to_string(), 0))
            .collect();
        for row in &rows {
            let n: i64 = self.get(row, "n")?;
            counts.insert(self.status(row)?.as_str().to_string(), n.max(0) as u64);
        }
        Ok(counts)
    }

    /// `retry --dead`: dead deliveries due again now, with a fresh attempt
    /// count. Returns how many.
    pub async fn retry_dead(&self, blog: &str, now: DateTime<Utc>) -> Result<u64, StateError> {
        let done = sqlx::query(
            "UPDATE deliveries
             SET status = 'retrying', next_attempt_at = ?2, attempts = 0,
                 lease_run = NULL, lease_until = NULL
             WHERE blog = ?1 AND status = 'dead'",
        )
        .bind(blog)
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(self.err("retrying dead deliveries"))?;
        Ok(done.rows_affected())
    }

    /// Digests: the subscriber's pending rows that wait for a hold time, due
    /// or not, by id. Not claimed: the caller merges them with `merge_into`.
    pub async fn held_for(&self, blog: &str, subscriber: &str) -> Result<Vec<Claimed>, StateError> {
        let rows = sqlx::query(
            "SELECT id, subscriber, channel, payload, attempts, created_at, hold_until
             FROM deliveries
             WHERE blog = ?1 AND subscriber = ?2 AND status = 'pending' AND hold_until IS NOT NULL
             ORDER BY id",
        )
        .bind(blog)
        .bind(subscriber)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err("reading held deliveries"))?;
        rows.iter().map(|row| self.claimed(row)).collect()
    }

    /// Digests: `keep` carries `payload` (the merged message) from now on;
    /// the `merged` rows, which must be pending rows of the same blog and
    /// subscriber, are settled as `sent` with last_error
    /// "merged into digest #<keep>" and no sent_at (they were not sent on
    /// their own). All or nothing.
    pub async fn merge_into(
        &self,
        keep: i64,
        merged: &[i64],
        payload: &str,
    ) -> Result<(), StateError> {
        let what = "merging deliveries into a digest";
        let mut tx = self.begin_immediate(what).await?;
        let done = sqlx::query("UPDATE deliveries SET payload = ?2 WHERE id = ?1")
            .bind(keep)
            .bind(payload)
            .execute(&mut *tx)
            .await
            .map_err(self.err(what))?;
        self.one_row(keep, done.rows_affected())?;
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
            .map_err(self.err(what))?;
            if done.rows_affected() != 1 {
                // Dropping the transaction rolls it back.
                return Err(StateError::Invalid {
                    path: self.at(),
                    message: format!(
                        "cannot merge delivery #{id} into digest #{keep}: \
                         not a pending delivery of the same subscriber"
                    ),
                });
            }
        }
        tx.commit().await.map_err(self.err(what))?;
        Ok(())
    }

    // --- helpers ---------------------------------------------------------

    fn at(&self) -> PathBuf {
        self.path.as_ref().clone()
    }

    fn err(&self, what: &'static str) -> impl Fn(sqlx::Error) -> StateError + '_ {
        move |e| StateError::Query {
            path: self.at(),
            what,
            source: Box::new(e),
        }
    }

    fn lock_lost(&self, run: &RunGuard) -> StateError {
        StateError::LockLost {
            path: self.at(),
            blog: run.blog.clone(),
            run_id: run.run_id,
        }
    }

    fn one_row(&self, id: i64, affected: u64) -> Result<(), StateError> {
        if affected == 0 {
            return Err(StateError::NoSuchDelivery {
                path: self.at(),
                id,
            });
        }
        Ok(())
    }

    async fn begin_immediate(
        &self,
        what: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StateError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.err(what))
    }

    fn get<'r, T>(&self, row: &'r SqliteRow, column: &'static str) -> Result<T, StateError>
    where
        T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        row.try_get(column).map_err(|e| StateError::Query {
            path: self.at(),
            what: column,
            source: Box::new(e),
        })
    }

    fn time(&self, row: &SqliteRow, column: &'static str) -> Result<DateTime<Utc>, StateError> {
        let text: String = self.get(row, column)?;
        self.parse_time(column, &text)
    }

    fn time_opt(
        &self,
        row: &SqliteRow,
        column: &'static str,
    ) -> Result<Option<DateTime<Utc>>, StateError> {
        let text: Option<String> = self.get(row, column)?;
        text.map(|text| self.parse_time(column, &text)).transpose()
    }

    fn parse_time(&self, column: &str, text: &str) -> Result<DateTime<Utc>, StateError> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.to_utc())
            .map_err(|e| StateError::Invalid {
                path: self.at(),
                message: format!("{column}: unreadable timestamp {text:?}: {e}"),
            })
    }

    fn status(&self, row: &SqliteRow) -> Result<DeliveryStatus, StateError> {
        let text: String = self.get(row, "status")?;
        text.parse().map_err(|message| StateError::Invalid {
            path: self.at(),
            message,
        })
    }

    fn attempts(&self, row: &SqliteRow) -> Result<u32, StateError> {
        let n: i64 = self.get(row, "attempts")?;
        Ok(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
    }

    fn claimed(&self, row: &SqliteRow) -> Result<Claimed, StateError> {
        Ok(Claimed {
            id: self.get(row, "id")?,
            subscriber: self.get(row, "subscriber")?,
            channel: self.get(row, "channel")?,
            payload: self.get(row, "payload")?,
            attempts: self.attempts(row)?,
            created_at: self.time(row, "created_at")?,
            hold_until: self.time_opt(row, "hold_until")?,
        })
    }

    fn holder(&self, row: &SqliteRow) -> Result<Holder, StateError> {
        Ok(Holder {
            run_id: self.get(row, "run_id")?,
            pid: self.get(row, "pid")?,
            hostname: self.get(row, "hostname")?,
            proc_start: self.get(row, "proc_start")?,
            heartbeat_at: self.time(row, "heartbeat_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::notify::{BlogInfo, Payload, PostSnapshot};
    use crate::state::NewDelivery;

    const BLOG: &str = "example";
    const LEASE: Duration = Duration::from_secs(300);
    /// No Linux pid gets this high (pid_max is at most 2^22).
    const DEAD_PID: i64 = 0x7fff_fff0;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-07-15T08:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn minutes(n: i64) -> DateTime<Utc> {
        t0() + TimeDelta::minutes(n)
    }

    async fn fresh() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).await.unwrap();
        (dir, store)
    }

    fn payload(title: &str) -> String {
        serde_json::to_string(&Payload {
            blog: BlogInfo {
                name: BLOG.into(),
                title: "Example".into(),
                url: "https://example.com/blog".into(),
                feed_url: "https://example.com/blog/atom.xml".into(),
            },
            posts: vec![PostSnapshot {
                title: title.into(),
                url: format!("https://example.com/blog/{title}"),
                summary: None,
                date: t0(),
                tags: vec![],
                authors: vec![],
                image: None,
            }],
        })
        .unwrap()
    }

    fn delivery(subscriber: &str, channel: &str, hold_until: Option<DateTime<Utc>>) -> NewDelivery {
        NewDelivery {
            subscriber: subscriber.into(),
            channel: channel.into(),
            payload: payload("p"),
            hold_until,
        }
    }

    fn announcement(key: &str, deliveries: Vec<NewDelivery>) -> Announcement {
        Announcement {
            key: key.into(),
            permalink: format!("/blog/{key}"),
            title: format!("Title of {key}"),
            published_at: t0() - TimeDelta::hours(1),
            deliveries,
        }
    }

    /// One post for alice (email) and bob (webhook).
    async fn two_deliveries(store: &Store) -> usize {
        let post = announcement(
            "hello",
            vec![
                delivery("alice", "email", None),
                delivery("bob", "webhook", None),
            ],
        );
        store.record(BLOG, t0(), &[], &[post]).await.unwrap()
    }

    async fn scalar(store: &Store, sql: &'static str, id: i64) -> Option<String> {
        sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    async fn fake_dead_holder(store: &Store) {
        sqlx::query("UPDATE run_locks SET pid = ?1")
            .bind(DEAD_PID)
            .execute(&store.pool)
            .await
            .unwrap();
    }

    fn ids(claimed: &[Claimed]) -> Vec<i64> {
        claimed.iter().map(|c| c.id).collect()
    }

    #[tokio::test]
    async fn recording_the_same_announcement_twice_inserts_its_deliveries_once() {
        let (_dir, store) = fresh().await;
        assert!(!store.has_history(BLOG).await.unwrap());
        assert_eq!(two_deliveries(&store).await, 2);
        let again = announcement(
            "hello",
            vec![
                delivery("alice", "email", None),
                delivery("bob", "webhook", None),
            ],
        );
        assert_eq!(
            store
                .record(BLOG, minutes(60), &[], &[again])
                .await
                .unwrap(),
            0
        );
        assert!(store.has_history(BLOG).await.unwrap());
        assert!(!store.has_history("other").await.unwrap());
        let announced: Option<String> =
            sqlx::query_scalar("SELECT announced_at FROM posts WHERE blog = ?1 AND key = 'hello'")
                .bind(BLOG)
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(announced, Some(ts(t0())));
        assert_eq!(store.counts(BLOG).await.unwrap()["pending"], 2);
    }

    #[tokio::test]
    async fn seen_posts_keep_their_key_take_new_titles_and_first_run_posts_count_as_announced() {
        let (_dir, store) = fresh().await;
        let post = |key: &str, title: &str, announced| SeenPost {
            key: key.into(),
            permalink: format!("/blog/{key}"),
            title: title.into(),
            announced,
        };
        let first = [post("old", "Old", true), post("draft", "Draft", false)];
        assert_eq!(store.record(BLOG, t0(), &first, &[]).await.unwrap(), 0);
        // A later run sees the draft renamed, and `announced = false` never
        // takes an announcement back.
        let later = [
            post("old", "Old, edited", false),
            post("draft", "Draft 2", false),
        ];
        store.record(BLOG, minutes(5), &later, &[]).await.unwrap();
        assert_eq!(
            store.seen_posts(BLOG).await.unwrap(),
            vec![
                post("draft", "Draft 2", false),
                post("old", "Old, edited", true)
            ]
        );
        assert_eq!(store.counts(BLOG).await.unwrap().values().sum::<u64>(), 0);
    }

    #[tokio::test]
    async fn claimed_rows_stay_leased_until_the_lease_expires() {
        let (_dir, store) = fresh().await;
        two_deliveries(&store).await;
        let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
        let first = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
        assert_eq!(first.len(), 2);
        assert!(first[0].id < first[1].id);
        assert_eq!(first[0].subscriber, "alice");
        assert_eq!(first[0].attempts, 1);
        assert_eq!(first[0].payload, payload("p"));
        assert!(
            store
                .claim_due(BLOG, &run, t0(), LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .claim_due(BLOG, &run, minutes(4), LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let counts = store.counts(BLOG).await.unwrap();
        assert_eq!((counts["sending"], counts["pending"]), (2, 0));
        // The fallback next attempt shows when a dead process's row returns.
        let next = scalar(
            &store,
            "SELECT next_attempt_at FROM deliveries WHERE id = ?1",
            first[0].id,
        )
        .await;
        assert!(next.unwrap() > ts(t0()));

        let again = store
            .claim_due(BLOG, &run, minutes(5), LEASE, 1)
            .await
            .unwrap();
        assert_eq!(ids(&again), vec![first[0].id]);
        assert_eq!(again[0].attempts, 2);
        store.mark_sent(first[1].id, minutes(6)).await.unwrap();
        // The sent row is settled; the other's second lease has expired.
        let later = store
            .claim_due(BLOG, &run, minutes(60), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(ids(&later), vec![first[0].id]);
        store.finish_run(run, minutes(61), "{}").await.unwrap();
    }

    #[tokio::test]
    async fn a_lease_held_by_a_run_whose_process_died_is_free_at_once_for_the_next_run() {
        let (_dir, store) = fresh().await;
        two_deliveries(&store).await;
        let crashed = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
        let crashed_id = crashed.run_id;
        let leased = store
            .claim_due(BLOG, &crashed, t0(), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(leased.len(), 2);
        // As if the process had died: its guard never drops, its pid is gone.
        std::mem::forget(crashed);
        fake_dead_holder(&store).await;

        let started = Instant::now();
        let next = store
            .begin_run(BLOG, minutes(1), Duration::from_secs(10))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_ne!(next.run_id, crashed_id);
        let reclaimed = store
            .claim_due(BLOG, &next, minutes(1), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(ids(&reclaimed), ids(&leased));
        assert!(reclaimed.iter().all(|c| c.attempts == 2));
        let status = scalar(&store, "SELECT status FROM runs WHERE id = ?1", crashed_id).await;
        assert_eq!(status.as_deref(), Some("abandoned"));
    }

    #[tokio::test]
    async fn a_second_run_waits_for_a_live_lock_and_gives_up_with_locked() {
        let (_dir, store) = fresh().await;
        let wait = Duration::from_millis(400);
        let started = Instant::now();
        let (a, b) = tokio::join!(
            store.begin_run(BLOG, t0(), wait),
            store.begin_run(BLOG, t0(), wait)
        );
        let (winner, loser) = match (a, b) {
            (Ok(guard), Err(e)) | (Err(e), Ok(guard)) => (guard, e),
            other => panic!("expected one lock and one refusal: {other:?}"),
        };
        assert!(started.elapsed() >= wait);
        match &loser {
            StateError::Locked { blog, holder, .. } => {
                assert_eq!(blog, BLOG);
                assert!(
                    holder.contains(&format!("run #{}", winner.run_id)),
                    "{holder}"
                );
            }
            other => panic!("expected Locked: {other}"),
        }
        assert!(loser.to_string().contains("state.db"), "{loser}");
        // Other blogs have their own lock.
        let other = store
            .begin_run("other", t0(), Duration::ZERO)
            .await
            .unwrap();
        store.finish_run(other, t0(), "{}").await.unwrap();

        // A waiting run gets the lock as soon as the holder finishes.
        let waiting = tokio::spawn({
            let store = store.clone();
            async move { store.begin_run(BLOG, t0(), Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        store
            .finish_run(winner, minutes(1), r#"{"sent": 0}"#)
            .await
            .unwrap();
        let next = waiting.await.unwrap().unwrap();
        store.finish_run(next, minutes(2), "{}").await.unwrap();
        let summaries: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT summary FROM runs WHERE blog = ?1 AND status = 'finished' ORDER BY id",
        )
        .bind(BLOG)
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert_eq!(
            summaries,
            vec![Some(r#"{"sent": 0}"#.to_string()), Some("{}".to_string())]
        );
    }

    #[tokio::test]
    async fn a_lock_held_by_a_dead_pid_is_taken_over_at_once_and_its_holder_notices() {
        let (_dir, store) = fresh().await;
        let stale = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
        fake_dead_holder(&store).await;
        let started = Instant::now();
        let fresh_run = store
            .begin_run(BLOG, t0(), Duration::from_secs(10))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(matches!(
            store.heartbeat(&stale, minutes(1)).await,
            Err(StateError::LockLost { .. })
        ));
        assert!(matches!(
            store.claim_due(BLOG, &stale, minutes(1), LEASE, 10).await,
            Err(StateError::LockLost { .. })
        ));
        // Finishing the stale run leaves the new holder's lock alone.
        store.finish_run(stale, minutes(1), "{}").await.unwrap();
        store.heartbeat(&fresh_run, minutes(1)).await.unwrap();
        assert!(
            store
                .begin_run(BLOG, minutes(1), Duration::ZERO)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_guard_dropped_without_finishing_frees_the_lock_in_this_process() {
        let (_dir, store) = fresh().await;
        drop(store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap());
        store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    }

    #[tokio::test]
    async fn a_lock_from_another_host_is_live_until_its_heartbeat_is_two_minutes_old() {
        let (_dir, store) = fresh().await;
        let remote = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
        sqlx::query("UPDATE run_locks SET hostname = 'elsewhere', pid = 1")
            .execute(&store.pool)
            .await
            .unwrap();
        store.heartbeat(&remote, minutes(1)).await.unwrap();
        let refused = store
            .begin_run(BLOG, minutes(2), Duration::ZERO)
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("elsewhere"), "{refused}");
        store
            .begin_run(BLOG, minutes(4), Duration::ZERO)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn failed_deliveries_wait_for_their_next_attempt_and_dead_ones_can_be_retried() {
        let (_dir, store) = fresh().await;
        two_deliveries(&store).await;
        let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
        let claimed = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
        let (alice, bob) = (claimed[0].id, claimed[1].id);
        let long_error = "é".repeat(5000);
        store
            .mark_failed(alice, t0(), &long_error, Some(minutes(10)), false)
            .await
            .unwrap();
        store
            .mark_failed(bob, t0(), "550 no such user", None, true)
            .await
            .unwrap();

        assert!(
            store
                .claim_due(BLOG, &run, minutes(9), LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let open = store.open_deliveries(BLOG).await.unwrap();
        assert_eq!(open.len(), 2);
        assert_eq!(
            (open[0].id, open[0].status),
            (alice, DeliveryStatus::Retrying)
        );
        assert_eq!(open[0].next_attempt_at, Some(minutes(10)));
        assert_eq!(
            open[0].last_error.as_ref().map(|e| e.chars().count()),
            Some(MAX_ERROR_CHARS)
        );
        assert_eq!((open[1].id, open[1].status), (bob, DeliveryStatus::Dead));
        assert_eq!(open[1].last_error.as_deref(), Some("550 no such user"));
        assert_eq!((open[1].attempts, open[1].post_key.as_str()), (1, "hello"));
        let counts = store.counts(BLOG).await.unwrap();
        assert_eq!(
            (counts["retrying"], counts["dead"], counts["sent"]),
            (1, 1, 0)
        );

        let due = store
            .claim_due(BLOG, &run, minutes(10), LEASE, 10)
            .await
            .unwrap();
        assert_eq!((ids(&due), due[0].attempts), (vec![alice], 2));
        store.mark_sent(alice, minutes(11)).await.unwrap();
        assert_eq!(store.retry_dead(BLOG, minutes(20)).await.unwrap(), 1);
        let retried = store
            .claim_due(BLOG, &run, minutes(20), LEASE, 10)
            .await
            .unwrap();
        assert_eq!((ids(&retried), retried[0].attempts), (vec![bob], 1));
        store.mark_sent(bob, minutes(21)).await.unwrap();
        assert!(store.open_deliveries(BLOG).await.unwrap().is_empty());
        assert_eq!(store.counts(BLOG).await.unwrap()["sent"], 2);
        assert!(matches!(
            store.mark_sent(9999, minutes(21)).await,
            Err(StateError::NoSuchDelivery { id: 9999, .. })
        ));
    }

    #[tokio::test]
    async fn a_released_delivery_is_due_again_without_counting_the_attempt() {
        let (_dir, store) = fresh().await;
        two_deliveries(&store).await;
        let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
        let claimed = store.claim_due(BLOG, &run, t0(), LEASE, 1).await.unwrap();
        store.release(claimed[0].id).await.unwrap();
        let open = store.open_deliveries(BLOG).await.unwrap();
        assert_eq!(
            (open[0].status, open[0].attempts),
            (DeliveryStatus::Pending, 0)
        );
        let again = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!((again[0].id, again[0].attempts), (claimed[0].id, 1));
    }

    #[tokio::test]
    async fn held_deliveries_wait_for_their_hold_time_and_merge_into_one_digest() {
        let (_dir, store) = fresh().await;
        let tomorrow = minutes(24 * 60);
        let posts: Vec<Announcement> = ["a", "b", "c"]
            .iter()
            .map(|key| {
                announcement(
                    key,
                    vec![
                        delivery("digest", "email", Some(tomorrow)),
                        delivery("now", "webhook", None),
                    ],
                )
            })
            .collect();
        assert_eq!(store.record(BLOG, t0(), &[], &posts).await.unwrap(), 6);
        let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
        let immediate = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
        assert!(immediate.iter().all(|c| c.subscriber == "now"));
        assert_eq!(immediate.len(), 3);
        for c in &immediate {
            store.mark_sent(c.id, t0()).await.unwrap();
        }
        assert!(
            store
                .claim_due(BLOG, &run, tomorrow - TimeDelta::seconds(1), LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );

        let held = store.held_for(BLOG, "digest").await.unwrap();
        assert_eq!(held.len(), 3);
        assert!(store.held_for(BLOG, "now").await.unwrap().is_empty());
        let digest = payload("digest of three");
        // A row of another subscriber cannot be merged, and nothing changes.
        assert!(
            store
                .merge_into(held[0].id, &[held[1].id, immediate[0].id], &digest)
                .await
                .is_err()
        );
        assert_eq!(store.held_for(BLOG, "digest").await.unwrap(), held);

        store
            .merge_into(held[0].id, &[held[1].id, held[2].id], &digest)
            .await
            .unwrap();
        let due = store
            .claim_due(BLOG, &run, tomorrow, LEASE, 10)
            .await
            .unwrap();
        assert_eq!(ids(&due), vec![held[0].id]);
        assert_eq!(due[0].payload, digest);
        let note = scalar(
            &store,
            "SELECT last_error FROM deliveries WHERE id = ?1",
            held[2].id,
        )
        .await;
        assert_eq!(note, Some(format!("merged into digest #{}", held[0].id)));
        let counts = store.counts(BLOG).await.unwrap();
        assert_eq!(
            (counts["sent"], counts["sending"], counts["pending"]),
            (5, 1, 0)
        );
    }

    #[tokio::test]
    async fn a_disabled_subscriber_is_listed_and_its_waiting_deliveries_die() {
        let (_dir, store) = fresh().await;
        two_deliveries(&store).await;
        store
            .disable_subscriber(BLOG, "bob", t0(), "HTTP 410 Gone")
            .await
            .unwrap();
        store
            .disable_subscriber(BLOG, "bob", minutes(1), "again")
            .await
            .unwrap();
        assert_eq!(
            store.disabled_subscribers(BLOG).await.unwrap(),
            vec![("bob".to_string(), "HTTP 410 Gone".to_string())]
        );
        assert!(
            store
                .disabled_subscribers("other")
                .await
                .unwrap()
                .is_empty()
        );
        let open = store.open_deliveries(BLOG).await.unwrap();
        assert_eq!(open[1].status, DeliveryStatus::Dead);
        assert_eq!(
            open[1].last_error.as_deref(),
            Some("subscriber disabled: HTTP 410 Gone")
        );
        assert_eq!(open[0].status, DeliveryStatus::Pending);
    }

    #[tokio::test]
    async fn a_reopened_database_keeps_its_data_and_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feeds").join("state.db");
        let store = Store::open(&path).await.unwrap();
        two_deliveries(&store).await;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(fk, 1);
        let seen = store.seen_posts(BLOG).await.unwrap();
        store.close().await;
        drop(store);

        let store = Store::open(&path).await.unwrap();
        assert_eq!(store.seen_posts(BLOG).await.unwrap(), seen);
        assert_eq!(store.counts(BLOG).await.unwrap()["pending"], 2);
        assert_eq!(two_deliveries(&store).await, 0);
        let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(migrations, MIGRATOR.iter().count() as i64);
    }

    #[tokio::test]
    async fn a_database_that_cannot_be_created_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, "").unwrap();
        let err = Store::open(&blocker.join("state.db")).await.unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
