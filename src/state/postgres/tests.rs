//! The PostgreSQL store in the generic tests (`TestStore`): each test gets a
//! database of its own with a random name on the test server, dropped when
//! the test ends, so tests run in parallel. And what only this backend has:
//! runs of one blog at once, sharing the outbox without claiming a row twice.
//!
//! The server: `POSTBODE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), whose user may create
//! databases. Without a server the tests print one line and pass, unless
//! `POSTBODE_REQUIRE_POSTGRES=1` (CI) makes that a failure.

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::Connection as _;

use super::*;
use crate::state::tests::{
    BLOG, LEASE, TestStore, announcement, delivery, migrator_before, payload, t0,
};
use crate::state::{RunGuard, StateStore};
use chrono::{DateTime, Utc};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn server_url() -> String {
    std::env::var("POSTBODE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// Whether the test server answers; false (with one line on stderr) means
/// the caller skips. Panics instead where the server is required.
pub(crate) fn available() -> bool {
    static UP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *UP.get_or_init(|| {
        let url = url::Url::parse(&server_url()).expect("POSTBODE_TEST_DATABASE_URL is a URL");
        let host = url.host_str().unwrap_or("127.0.0.1").to_string();
        let port = url.port().unwrap_or(5432);
        let up = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .ok()
            .and_then(|mut a| a.next())
            .is_some_and(|addr| {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
            });
        if !up {
            if std::env::var("POSTBODE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("POSTBODE_REQUIRE_POSTGRES=1 but no PostgreSQL answers at {host}:{port}");
            }
            eprintln!(
                "skipping the PostgreSQL state tests: no server at {host}:{port} \
                 (set POSTBODE_TEST_DATABASE_URL)"
            );
        }
        up
    })
}

/// A database of its own, dropped (with any connection still open to it)
/// when this is dropped.
pub(crate) struct TestDatabase {
    name: String,
}

impl TestDatabase {
    pub(crate) async fn create() -> (TestDatabase, DatabaseUrl) {
        let name = format!("postbode_test_{:016x}", fastrand::u64(..));
        let mut admin = sqlx::PgConnection::connect(&server_url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(&server_url()).unwrap();
        url.set_path(&name);
        let url = crate::config::StateLocation::parse(url.as_str());
        let crate::config::StateLocation::Postgres(url) = url else {
            unreachable!("a postgres URL")
        };
        (TestDatabase { name }, url)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime's reach: a thread with its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&server_url()).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

impl TestStore for PgStore {
    type Keep = TestDatabase;
    const SHARES_RUNS: bool = true;

    fn as_store(&self) -> crate::state::Store {
        crate::state::Store::Postgres(self.clone())
    }

    async fn fresh() -> (TestDatabase, PgStore) {
        let (db, url) = TestDatabase::create().await;
        let store = PgStore::open(&url).await.unwrap();
        (db, store)
    }

    fn location(&self) -> String {
        self.at().display().to_string()
    }

    async fn crash(&self, run: &RunGuard) {
        // What a killed process leaves behind: its session ends.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 1 AND granted
               AND ((classid::bigint << 32) | objid::bigint) = $1
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(run.run_id)
        .execute(&self.pool)
        .await
        .unwrap();
        for _ in 0..100 {
            let alive: bool = sqlx::query_scalar("SELECT $1 IN (SELECT postbode_live_runs())")
                .bind(run.run_id)
                .fetch_one(&self.pool)
                .await
                .unwrap();
            if !alive {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "run #{} still alive after its session was ended",
            run.run_id
        );
    }

    async fn announced_at(&self, blog: &str, key: &str) -> Option<DateTime<Utc>> {
        sqlx::query_scalar("SELECT announced_at FROM posts WHERE blog = $1 AND key = $2")
            .bind(blog)
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn run_status(&self, run_id: i64) -> Option<String> {
        sqlx::query_scalar("SELECT status FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
    }

    async fn last_error(&self, id: i64) -> Option<String> {
        sqlx::query_scalar("SELECT last_error FROM deliveries WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn finished_summaries(&self, blog: &str) -> Vec<Option<String>> {
        sqlx::query_scalar(
            "SELECT summary FROM runs WHERE blog = $1 AND status = 'finished' ORDER BY id",
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

/// Several runs of one blog at once, each claiming in small batches until
/// nothing is due: every row is claimed exactly once, and each run got some.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_of_one_blog_share_the_outbox_without_claiming_a_row_twice() {
    if !available() {
        return;
    }
    let (_db, store) = PgStore::fresh().await;
    let deliveries = (0..400)
        .map(|i| delivery(&format!("s{i:03}"), "webhook", None))
        .collect();
    store
        .record(BLOG, t0(), &[], &[announcement("hello", deliveries)])
        .await
        .unwrap();
    let mut workers = tokio::task::JoinSet::new();
    // All four have started before any claims: a run that is still
    // connecting must not find the outbox emptied by the others.
    let started = std::sync::Arc::new(tokio::sync::Barrier::new(4));
    for _ in 0..4 {
        let (store, started) = (store.clone(), started.clone());
        workers.spawn(async move {
            let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
            started.wait().await;
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due(BLOG, &run, t0(), LEASE, 7).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                mine.extend(batch.iter().map(|c| c.id));
                // Sending takes time: without it, on a fast machine one run
                // may claim the whole outbox before the others' first turn.
                tokio::time::sleep(Duration::from_millis(2)).await;
                let ids: Vec<i64> = batch.iter().map(|c| c.id).collect();
                store.mark_sent_many(&ids, t0()).await.unwrap();
            }
            store.finish_run(run, t0(), "{}").await.unwrap();
            mine
        });
    }
    let mut all = Vec::new();
    let mut shares = Vec::new();
    while let Some(mine) = workers.join_next().await {
        let mine = mine.unwrap();
        shares.push(mine.len());
        all.extend(mine);
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 400, "claimed {} times for 400 rows", all.len());
    assert_eq!(distinct.len(), 400);
    assert!(
        shares.iter().all(|&n| n > 0),
        "a run got nothing: {shares:?}"
    );
    assert_eq!(store.counts(BLOG).await.unwrap()["sent"], 400);
}

/// Two runs that found the same post new at the same moment: the planning
/// lock lets one plan it; the other's deliveries are the same rows.
#[tokio::test]
async fn a_post_planned_by_two_runs_at_once_is_planned_once_and_notified() {
    if !available() {
        return;
    }
    let (_db, store) = PgStore::fresh().await;
    let mut planned = store.planned().await.unwrap();
    let post = announcement(
        "hello",
        (0..50)
            .map(|i| delivery(&format!("s{i}"), "email", None))
            .collect(),
    );
    let (a, b) = tokio::join!(
        store.record(BLOG, t0(), &[], std::slice::from_ref(&post)),
        store.record(BLOG, t0(), &[], std::slice::from_ref(&post)),
    );
    let mut new = [a.unwrap(), b.unwrap()];
    new.sort();
    assert_eq!(new, [0, 50]);
    assert_eq!(store.counts(BLOG).await.unwrap()["pending"], 50);
    let woke = tokio::time::timeout(Duration::from_secs(5), planned.recv())
        .await
        .expect("a NOTIFY for the planned deliveries");
    assert_eq!(woke.as_deref(), Some(BLOG));
}

/// `sslmode` in the URL is the driver's to honour: `verify-full` against a
/// test server (no TLS, or a certificate no public CA signed) is refused
/// with an error that names the database, never silently sent in clear.
#[tokio::test]
async fn an_sslmode_in_the_url_is_honoured() {
    if !available() {
        return;
    }
    let (_db, url) = TestDatabase::create().await;
    let with = |mode: &str| {
        let sep = if url.expose().contains('?') { '&' } else { '?' };
        crate::config::StateLocation::parse(&format!("{}{sep}sslmode={mode}", url.expose()))
    };
    let crate::config::StateLocation::Postgres(strict) = with("verify-full") else {
        unreachable!()
    };
    let err = PgStore::open(&strict).await.unwrap_err().to_string();
    assert!(err.contains("cannot open the state database"), "{err}");
    assert!(err.contains("127.0.0.1"), "{err}");
    let crate::config::StateLocation::Postgres(plain) = with("disable") else {
        unreachable!()
    };
    PgStore::open(&plain).await.unwrap();
}

/// A PostgreSQL state planned before payloads had a table of their own
/// (migration 0001: each delivery carried its post's message) keeps its
/// deliveries sendable, and a message planned again is found by the hash
/// the migration computed, not stored a second time.
#[tokio::test]
async fn a_state_from_before_the_payloads_table_keeps_its_deliveries_sendable() {
    if !available() {
        return;
    }
    let (_db, url) = TestDatabase::create().await;
    let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
    migrator_before("postgres", "0002")
        .await
        .run(&pool)
        .await
        .unwrap();
    // Not ASCII, so that the hash covers the UTF-8 bytes either way.
    let (first, second) = (payload("Ärger über Öl"), payload("second"));
    sqlx::query(
        "INSERT INTO posts (blog, key, permalink, title, first_seen_at, announced_at)
         VALUES ($1, 'hello', '/blog/hello', 'Hello', $2, $2),
                ($1, 'two', '/blog/two', 'Two', $2, $2)",
    )
    .bind(BLOG)
    .bind(t0())
    .execute(&pool)
    .await
    .unwrap();
    for (key, subscriber, body) in [
        ("hello", "alice", &first),
        ("hello", "bob", &first),
        ("two", "alice", &second),
    ] {
        sqlx::query(
            "INSERT INTO deliveries (blog, post_key, subscriber, channel, payload, created_at)
             VALUES ($1, $2, $3, 'webhook', $4, $5)",
        )
        .bind(BLOG)
        .bind(key)
        .bind(subscriber)
        .bind(body)
        .bind(t0())
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = PgStore::open(&url).await.unwrap();
    assert_eq!(store.stored_payloads().await, 2);
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let claimed: Vec<(String, String)> = store
        .claim_due(BLOG, &run, t0(), LEASE, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.subscriber, c.payload))
        .collect();
    assert_eq!(
        claimed,
        [
            ("alice".to_string(), first.clone()),
            ("bob".to_string(), first.clone()),
            ("alice".to_string(), second),
        ]
    );
    let mut again = announcement("again", vec![delivery("carol", "webhook", None)]);
    again.deliveries[0].payload = first;
    assert_eq!(store.record(BLOG, t0(), &[], &[again]).await.unwrap(), 1);
    assert_eq!(store.stored_payloads().await, 2);
}
