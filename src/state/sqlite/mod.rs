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
pub(in crate::state) mod subscriptions;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
pub use presence::marker_path;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Located, StateError};

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
            // A file connection does not go stale the way a socket does,
            // and each ping is a round trip to the connection's thread:
            // under the subscription pages' load it was a third of them.
            .test_before_acquire(false)
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

impl Located for SqliteStore {
    fn at(&self) -> PathBuf {
        self.path.as_ref().clone()
    }
}

/// A timestamp as stored: "2025-07-15T08:00:00.000000Z" (see the module
/// docs). The first migration still calls this `state::ts`: a migration is
/// never edited, since sqlx keeps its checksum in every existing database.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl_state_store!(SqliteStore);

#[cfg(test)]
pub(in crate::state) mod tests;
