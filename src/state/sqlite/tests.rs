//! The SQLite store in the generic tests (`TestStore`), and what only it
//! has: a file that is created, migrated once and read without writing,
//! timestamps stored as sortable text, and a lock whose holder on another
//! host only its heartbeat can show alive.

use std::time::Duration;

use chrono::TimeDelta;

use super::*;
use crate::state::tests::{
    BLOG, LEASE, TestStore, ids, migrator_before, minutes, payload, t0, two_deliveries,
};
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
    async fn stored_payloads(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM payloads")
            .fetch_one(&self.pool)
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

/// A state as the schema before payloads had a table of their own
/// (migrations 0001-0003) wrote it: each delivery carried its post's
/// message, and there are deliveries in every status. Returns the
/// deliveries due at `minutes(60)` as (id, subscriber, payload), by id.
pub(in crate::state) async fn state_before_payloads(path: &Path) -> Vec<(i64, String, String)> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    migrator_before("sqlite", "0004")
        .await
        .run(&pool)
        .await
        .unwrap();
    let (old_post, new_post, digest) = (payload("old"), payload("new"), payload("digest"));
    let at = |m: i64| ts(minutes(m));
    sqlx::query(
        "INSERT INTO posts (blog, key, permalink, title, first_seen_at, published_at, announced_at)
         VALUES (?1, 'old', '/blog/old', 'Old', ?2, ?2, ?2), (?1, 'new', '/blog/new', 'New', ?2, ?2, ?2)",
    )
    .bind(BLOG)
    .bind(at(0))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO runs (blog, pid, hostname, started_at, finished_at, status)
         VALUES (?1, 1, 'old-host', ?2, ?2, 'finished')",
    )
    .bind(BLOG)
    .bind(at(0))
    .execute(&pool)
    .await
    .unwrap();
    // (post, subscriber, payload, status, attempts, hold_until,
    // next_attempt_at, lease_run, lease_until, last_error, sent_at)
    type Old<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        i64,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<&'a str>,
        Option<String>,
    );
    let rows: [Old; 6] = [
        (
            "old",
            "alice",
            &old_post,
            "sent",
            1,
            None,
            None,
            None,
            None,
            None,
            Some(at(1)),
        ),
        (
            "old",
            "bob",
            &old_post,
            "retrying",
            2,
            None,
            Some(at(30)),
            None,
            None,
            Some("HTTP 503"),
            None,
        ),
        (
            "old",
            "carol",
            &old_post,
            "dead",
            5,
            None,
            None,
            None,
            None,
            Some("HTTP 410"),
            None,
        ),
        (
            "new",
            "alice",
            &digest,
            "pending",
            0,
            Some(at(50)),
            None,
            None,
            None,
            None,
            None,
        ),
        // Its run died while sending it; the lease has run out.
        (
            "new",
            "bob",
            &new_post,
            "sending",
            1,
            None,
            Some(at(10)),
            Some(1),
            Some(at(10)),
            None,
            None,
        ),
        (
            "new", "carol", &new_post, "pending", 0, None, None, None, None, None, None,
        ),
    ];
    for row in rows {
        sqlx::query(
            "INSERT INTO deliveries
                 (blog, post_key, subscriber, channel, payload, status, attempts, hold_until,
                  next_attempt_at, lease_run, lease_until, last_error, sent_at, created_at)
             VALUES (?1, ?2, ?3, 'webhook', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .bind(BLOG)
        .bind(row.0)
        .bind(row.1)
        .bind(row.2)
        .bind(row.3)
        .bind(row.4)
        .bind(row.5)
        .bind(row.6)
        .bind(row.7)
        .bind(row.8)
        .bind(row.9)
        .bind(row.10)
        .bind(at(0))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    vec![
        (2, "bob".into(), old_post),
        (4, "alice".into(), digest),
        (5, "bob".into(), new_post.clone()),
        (6, "carol".into(), new_post),
    ]
}

#[tokio::test]
async fn a_state_from_before_the_payloads_table_keeps_every_open_delivery_sendable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let due = state_before_payloads(&path).await;
    let store = SqliteStore::open(&path).await.unwrap();
    // One payload per distinct message, not per delivery.
    assert_eq!(store.stored_payloads().await, 3);
    let counts = store.counts(BLOG).await.unwrap();
    let statuses = ["pending", "sending", "retrying", "sent", "dead"];
    assert_eq!(statuses.map(|s| counts[s]), [2, 1, 1, 1, 1]);
    let run = store
        .begin_run(BLOG, minutes(60), Duration::ZERO)
        .await
        .unwrap();
    let claimed = store
        .claim_due(BLOG, &run, minutes(60), LEASE, 100)
        .await
        .unwrap();
    let claimed: Vec<(i64, String, String)> = claimed
        .into_iter()
        .map(|c| (c.id, c.subscriber, c.payload))
        .collect();
    assert_eq!(claimed, due);
    // The dead one, revived, goes out with its message too.
    assert_eq!(store.retry_dead(BLOG, minutes(61)).await.unwrap(), 1);
    let revived = store
        .claim_due(BLOG, &run, minutes(61), LEASE, 100)
        .await
        .unwrap();
    assert_eq!(ids(&revived), vec![3]);
    assert_eq!(revived[0].payload, due[0].2);
    // New deliveries continue after the old ids (never used twice).
    assert_eq!(two_deliveries(&store).await, 2);
    let open = store.open_deliveries(BLOG).await.unwrap();
    assert!(
        open.iter()
            .filter(|d| d.post_key == "hello")
            .all(|d| d.id > 6)
    );
    assert_eq!(store.stored_payloads().await, 4);
}
