//! The SQLite backend of the state store: one file (WAL mode, so `postbode
//! status` can read while a run writes), migrated on open with the migrations
//! embedded from `src/state/sqlite/migrations/`. This file opens the database
//! and holds what every query shares; the queries live beside it, by what
//! they own: the runs and their lock (`runs.rs`, `lock.rs`), the outbox's
//! writes (`outbox.rs`) and the reads behind `status` (`queries.rs`).
//!
//! Write transactions start with `BEGIN IMMEDIATE`: a deferred transaction
//! that reads before it writes fails at once with SQLITE_BUSY when another
//! connection wrote in between, instead of waiting out the busy timeout.
//!
//! Timestamps are stored as fixed-width RFC 3339 text in UTC (`ts`), so that
//! comparing them as text in SQL compares them as times. They are always
//! bound as that text, never as `DateTime` (sqlx would write another format);
//! reading them back goes through sqlx's `chrono` decoding.

pub(in crate::state) mod lock;
mod outbox;
mod presence;
mod queries;
mod runs;
mod subscribers;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
pub use presence::marker_path;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{
    Announcement, Claimed, DeliveryRow, DisabledSubscriber, Gauges, HistoryFilter, RunGuard,
    SeenPost, SentDelivery, Settlement, StateError, StateStore,
};

/// How long a write waits for another connection's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/state/sqlite/migrations");

/// The state in one SQLite file. Cheap to clone: clones share one
/// connection pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// As given to `open`, for messages.
    path: Arc<PathBuf>,
    /// Canonical, to recognise this process's runs on the same file.
    key: Arc<PathBuf>,
}

impl SqliteStore {
    /// Opens an existing state for reading only, for `--dry-run`: nothing is
    /// created, migrated or written, so the file's bytes stay as they are.
    /// `None` when there is no state yet (a first run).
    pub async fn open_read_only(path: &Path) -> Result<Option<SqliteStore>, StateError> {
        if !path.exists() {
            return Ok(None);
        }
        // A write-ahead log beside the file holds commits not yet copied
        // into it (a run still going, or one that never closed its store):
        // read it as any reader would, under SQLite's locks. A read-only
        // connection never checkpoints, and the log's files already exist.
        // Without one, `immutable` reads the file as it is and creates no
        // -wal/-shm files (it would ignore a log, hence the check).
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(!Path::new(&wal).exists())
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| StateError::Open {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        Ok(Some(SqliteStore::with_pool(pool, path)))
    }

    /// Opens (creating the folder and the file when missing) and migrates.
    pub async fn open(path: &Path) -> Result<SqliteStore, StateError> {
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
        Ok(SqliteStore::with_pool(pool, path))
    }

    /// See `Store::open_for_run` (and `presence.rs`).
    pub async fn open_for_run(path: &Path, new_state: bool) -> Result<SqliteStore, StateError> {
        presence::open_for_run(path, new_state).await
    }

    /// See `Store::open_existing`.
    pub async fn open_existing(path: &Path) -> Result<SqliteStore, StateError> {
        presence::open_existing(path).await
    }

    /// See `Store::open_for_dry_run`.
    pub async fn open_for_dry_run(
        path: &Path,
        new_state: bool,
    ) -> Result<Option<SqliteStore>, StateError> {
        presence::open_for_dry_run(path, new_state).await
    }

    fn with_pool(pool: SqlitePool, path: &Path) -> SqliteStore {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        SqliteStore {
            pool,
            path: Arc::new(path.to_path_buf()),
            key: Arc::new(key),
        }
    }

    /// The pool and the file, for `state migrate`.
    pub(in crate::state) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(in crate::state) fn path(&self) -> &Path {
        &self.path
    }

    // --- shared by the queries -------------------------------------------

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
}

/// A timestamp as stored: "2025-07-15T08:00:00.000000Z" (see the module
/// docs). The first migration still calls this `state::ts`: a migration is
/// never edited, since sqlx keeps its checksum in every existing database.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl StateStore for SqliteStore {
    fn close(&self) -> impl Future<Output = ()> + Send {
        self.pool.close()
    }

    fn begin_run(
        &self,
        blog: &str,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> impl Future<Output = Result<RunGuard, StateError>> + Send {
        runs::begin_run(self, blog, now, wait)
    }

    fn heartbeat(
        &self,
        run: &RunGuard,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> impl Future<Output = Result<(), StateError>> + Send {
        runs::heartbeat(self, run, now, lease)
    }

    fn finish_run(
        &self,
        run: RunGuard,
        now: DateTime<Utc>,
        summary_json: &str,
    ) -> impl Future<Output = Result<(), StateError>> + Send {
        runs::finish_run(self, run, now, summary_json)
    }

    fn has_history(&self, blog: &str) -> impl Future<Output = Result<bool, StateError>> + Send {
        queries::has_history(self, blog)
    }

    fn seen_posts(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<Vec<SeenPost>, StateError>> + Send {
        queries::seen_posts(self, blog)
    }

    fn record(
        &self,
        blog: &str,
        now: DateTime<Utc>,
        seen: &[SeenPost],
        announce: &[Announcement],
    ) -> impl Future<Output = Result<usize, StateError>> + Send {
        outbox::record(self, blog, now, seen, announce)
    }

    fn claim_due(
        &self,
        blog: &str,
        run: &RunGuard,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Claimed>, StateError>> + Send {
        outbox::claim_due(self, blog, run, now, lease, limit)
    }

    fn mark_sent(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StateError>> + Send {
        outbox::mark_sent(self, id, now)
    }

    fn mark_sent_many(
        &self,
        ids: &[i64],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StateError>> + Send {
        outbox::mark_sent_many(self, ids, now)
    }

    fn settle(
        &self,
        outcomes: &[Settlement],
    ) -> impl Future<Output = Result<(), StateError>> + Send {
        outbox::settle(self, outcomes)
    }

    fn mark_failed(
        &self,
        id: i64,
        now: DateTime<Utc>,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
        dead: bool,
    ) -> impl Future<Output = Result<(), StateError>> + Send {
        outbox::mark_failed(self, id, now, error, next_attempt_at, dead)
    }

    fn release(&self, id: i64) -> impl Future<Output = Result<(), StateError>> + Send {
        outbox::release(self, id)
    }

    fn disable_subscriber(
        &self,
        blog: &str,
        subscriber: &str,
        now: DateTime<Utc>,
        reason: &str,
    ) -> impl Future<Output = Result<(), StateError>> + Send {
        outbox::disable_subscriber(self, blog, subscriber, now, reason)
    }

    fn disabled_subscribers(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StateError>> + Send {
        queries::disabled_subscribers(self, blog)
    }

    fn open_deliveries(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<Vec<DeliveryRow>, StateError>> + Send {
        queries::open_deliveries(self, blog)
    }

    fn counts(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, u64>, StateError>> + Send {
        queries::counts(self, blog)
    }

    fn retry_dead(
        &self,
        blog: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StateError>> + Send {
        outbox::retry_dead(self, blog, now)
    }

    fn retry_now(
        &self,
        blog: &str,
        id: Option<i64>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StateError>> + Send {
        outbox::retry_now(self, blog, id, now)
    }

    fn history(
        &self,
        blog: &str,
        filter: &HistoryFilter,
    ) -> impl Future<Output = Result<Vec<SentDelivery>, StateError>> + Send {
        queries::history(self, blog, filter)
    }

    fn gauges(
        &self,
        blog: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Gauges, StateError>> + Send {
        queries::gauges(self, blog, now)
    }

    fn held_for(
        &self,
        blog: &str,
        subscriber: &str,
    ) -> impl Future<Output = Result<Vec<Claimed>, StateError>> + Send {
        outbox::held_for(self, blog, subscriber)
    }

    fn merge_into(
        &self,
        keep: i64,
        merged: &[i64],
        payload: &str,
    ) -> impl Future<Output = Result<(), StateError>> + Send {
        outbox::merge_into(self, keep, merged, payload)
    }

    fn disabled_subscriber_rows(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<Vec<DisabledSubscriber>, StateError>> + Send {
        queries::disabled_subscriber_rows(self, blog)
    }

    fn note_disabled_targets(
        &self,
        blog: &str,
        targets: &[(String, String)],
    ) -> impl Future<Output = Result<u64, StateError>> + Send {
        subscribers::note_disabled_targets(self, blog, targets)
    }

    fn enable_subscriber(
        &self,
        blog: &str,
        subscriber: &str,
    ) -> impl Future<Output = Result<bool, StateError>> + Send {
        subscribers::enable_subscriber(self, blog, subscriber)
    }

    fn enable_all_subscribers(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<u64, StateError>> + Send {
        subscribers::enable_all_subscribers(self, blog)
    }
}

#[cfg(test)]
mod tests;
