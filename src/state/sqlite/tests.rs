//! The SQLite store in the generic tests (`TestStore`), and what only it
//! has: a file that is created, migrated once and read without writing,
//! timestamps stored as sortable text, and a lock whose holder on another
//! host only its heartbeat can show alive.

use std::time::Duration;

use chrono::TimeDelta;

use super::*;
use crate::state::tests::{BLOG, LEASE, TestStore, minutes, t0, two_deliveries};
use crate::state::{RunGuard, SeenPost, StateStore};
use chrono::{DateTime, Utc};

/// No Linux pid gets this high (pid_max is at most 2^22).
const DEAD_PID: i64 = 0x7fff_fff0;

impl TestStore for SqliteStore {
    type Keep = tempfile::TempDir;
    const SHARES_RUNS: bool = false;

    fn as_store(&self) -> crate::state::Store {
        crate::state::Store::Sqlite(self.clone())
    }

    async fn fresh() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap();
        (dir, store)
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn crash(&self, run: &RunGuard) {
        // Another pid on this host: `lock.rs` asks the system, which knows
        // no such process.
        sqlx::query("UPDATE run_locks SET pid = ?1 WHERE run_id = ?2")
            .bind(DEAD_PID)
            .bind(run.run_id)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn announced_at(&self, blog: &str, key: &str) -> Option<DateTime<Utc>> {
        sqlx::query_scalar("SELECT announced_at FROM posts WHERE blog = ?1 AND key = ?2")
            .bind(blog)
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn run_status(&self, run_id: i64) -> Option<String> {
        sqlx::query_scalar("SELECT status FROM runs WHERE id = ?1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
    }

    async fn last_error(&self, id: i64) -> Option<String> {
        sqlx::query_scalar("SELECT last_error FROM deliveries WHERE id = ?1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn finished_summaries(&self, blog: &str) -> Vec<Option<String>> {
        sqlx::query_scalar(
            "SELECT summary FROM runs WHERE blog = ?1 AND status = 'finished' ORDER BY id",
        )
        .bind(blog)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }
}

async fn text(store: &SqliteStore, sql: &'static str) -> Vec<Option<String>> {
    sqlx::query_scalar(sql)
        .fetch_all(&store.pool)
        .await
        .unwrap()
}

#[test]
fn timestamps_sort_as_text_in_time_order() {
    let a = t0();
    let b = a + TimeDelta::microseconds(1);
    let c = a + TimeDelta::days(4000);
    assert!(ts(a) < ts(b) && ts(b) < ts(c));
    assert_eq!(ts(a), "2025-07-15T08:00:00.000000Z");
    assert_eq!(
        ts(crate::state::after(a, Duration::MAX)),
        "9999-12-31T23:59:59.000000Z"
    );
}

#[tokio::test]
async fn timestamps_are_stored_as_fixed_width_utc_text() {
    let (_dir, store) = SqliteStore::fresh().await;
    two_deliveries(&store).await;
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    store
        .claim_due(BLOG, &run, minutes(1), Duration::from_secs(300), 1)
        .await
        .unwrap();
    let announced = Some("2025-07-15T08:00:00.000000Z".to_string());
    assert_eq!(
        text(&store, "SELECT announced_at FROM posts").await,
        vec![announced.clone()]
    );
    assert_eq!(
        text(&store, "SELECT published_at FROM posts").await,
        vec![Some("2025-07-15T07:00:00.000000Z".to_string())]
    );
    assert_eq!(
        text(&store, "SELECT created_at FROM deliveries ORDER BY id").await,
        vec![announced.clone(), announced]
    );
    assert_eq!(
        text(&store, "SELECT next_attempt_at FROM deliveries ORDER BY id").await,
        vec![Some("2025-07-15T08:06:00.000000Z".to_string()), None]
    );
}

#[tokio::test]
async fn a_lock_from_another_host_is_live_until_its_heartbeat_is_two_minutes_old() {
    let (_dir, store) = SqliteStore::fresh().await;
    let remote = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    sqlx::query("UPDATE run_locks SET hostname = 'elsewhere', pid = 1")
        .execute(&store.pool)
        .await
        .unwrap();
    store.heartbeat(&remote, minutes(1), LEASE).await.unwrap();
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
async fn a_reopened_database_keeps_its_data_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feeds").join("state.db");
    let store = SqliteStore::open(&path).await.unwrap();
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

    let store = SqliteStore::open(&path).await.unwrap();
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
async fn a_read_only_store_reads_a_closed_state_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    assert!(SqliteStore::open_read_only(&path).await.unwrap().is_none());
    assert!(!path.exists());

    let store = SqliteStore::open(&path).await.unwrap();
    two_deliveries(&store).await;
    store.close().await;
    let files = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = (files(dir.path()), std::fs::read(&path).unwrap());

    let reader = SqliteStore::open_read_only(&path).await.unwrap().unwrap();
    assert_eq!(reader.seen_posts(BLOG).await.unwrap().len(), 1);
    assert_eq!(reader.counts(BLOG).await.unwrap()["pending"], 2);
    let draft = SeenPost {
        key: "draft".into(),
        permalink: "/blog/draft".into(),
        title: "Draft".into(),
        announced: false,
    };
    assert!(reader.record(BLOG, t0(), &[draft], &[]).await.is_err());
    reader.close().await;
    assert_eq!((files(dir.path()), std::fs::read(&path).unwrap()), before);
}

#[tokio::test]
async fn a_database_that_cannot_be_created_names_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let err = SqliteStore::open(&blocker.join("state.db"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[tokio::test]
async fn a_read_only_store_sees_what_a_store_still_open_has_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let writer = SqliteStore::open(&path).await.unwrap();
    two_deliveries(&writer).await;
    // The commits are in the write-ahead log until the writer checkpoints.
    let reader = SqliteStore::open_read_only(&path).await.unwrap().unwrap();
    assert_eq!(reader.counts(BLOG).await.unwrap()["pending"], 2);
    reader.close().await;
    // Also once the writer is gone without closing (a killed run).
    drop(writer);
    let reader = SqliteStore::open_read_only(&path).await.unwrap().unwrap();
    assert!(reader.has_history(BLOG).await.unwrap());
}
