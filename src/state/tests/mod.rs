//! Tests of the state contract. Every behaviour is one generic body written
//! against [`StateStore`] (in `runs.rs` and `outbox.rs`) and run against
//! each backend by `for_each_store!`, so the backends cannot drift apart;
//! what only one backend has (SQLite's file, pragmas, pid-based lock) is
//! tested beside it. The helpers here are the fixtures they share.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;

/// Runs each listed generic test body once per backend, as
/// `<module>::<backend>::<test>`. A new backend is one more `@store` line.
/// Where the backends differ on purpose (one run per blog at a time, or
/// runs sharing the outbox) the body asks `S::SHARES_RUNS`.
macro_rules! for_each_store {
    ([$($test:ident),+ $(,)?]) => {
        for_each_store!(@store sqlite, crate::state::SqliteStore, true, [$($test),+]);
        for_each_store!(
            @store postgres,
            crate::state::PgStore,
            crate::state::postgres::tests::available(),
            [$($test),+]
        );
    };
    (@store $backend:ident, $store:ty, $ready:expr, [$($test:ident),+]) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() {
                    // A backend whose server is missing skips (see its tests).
                    if !$ready {
                        return;
                    }
                    super::$test::<$store>().await
                }
            )+
        }
    };
}
// Below the macro: a macro_rules macro is visible only after its definition.
mod operations;
mod outbox;
mod runs;
mod subscribers;
mod subscriptions;

/// What a generic test needs from a backend beyond the contract: a fresh
/// store, a way to fake a crash, and a look at what the contract does not
/// read back.
pub(crate) trait TestStore: StateStore + Clone + 'static {
    /// Keeps the fresh store's resources (a temporary folder, a database)
    /// alive.
    type Keep;

    /// Whether runs of one blog work at once and share the outbox
    /// (PostgreSQL) instead of taking turns on a lock (SQLite).
    const SHARES_RUNS: bool;

    /// An empty store of its own.
    async fn fresh() -> (Self::Keep, Self);

    /// How errors name the store (its file, its server).
    fn location(&self) -> String;

    /// The same database as the crate's `Store` (for what is not in the
    /// `StateStore` contract, such as `state::subscriptions`).
    fn as_store(&self) -> Store;

    /// As if the process of `run` had died: the next `begin_run` must find
    /// its holder dead, though the guard itself lives on.
    async fn crash(&self, run: &RunGuard);

    /// When the post was announced, as stored.
    async fn announced_at(&self, blog: &str, key: &str) -> Option<DateTime<Utc>>;

    /// The status of a run (running, finished, abandoned).
    async fn run_status(&self, run_id: i64) -> Option<String>;

    /// The last error of a delivery, whatever its status.
    async fn last_error(&self, id: i64) -> Option<String>;

    /// The summaries of the blog's finished runs, oldest first.
    async fn finished_summaries(&self, blog: &str) -> Vec<Option<String>>;

    /// How many payloads are stored, whatever the blog.
    async fn stored_payloads(&self) -> i64;
}

pub(crate) const BLOG: &str = "example";
pub(crate) const LEASE: Duration = Duration::from_secs(300);

pub(crate) fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-07-15T08:00:00Z")
        .unwrap()
        .to_utc()
}

pub(crate) fn minutes(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(n)
}

/// A payload as the outbox stores it: JSON (the schema checks), opaque.
pub(crate) fn payload(title: &str) -> String {
    serde_json::json!({ "blog": BLOG, "posts": [{ "title": title }] }).to_string()
}

pub(crate) fn delivery(
    subscriber: &str,
    channel: &str,
    hold_until: Option<DateTime<Utc>>,
) -> NewDelivery {
    NewDelivery {
        subscriber: subscriber.into(),
        channel: channel.into(),
        payload: payload("p"),
        hold_until,
    }
}

pub(crate) fn announcement(key: &str, deliveries: Vec<NewDelivery>) -> Announcement {
    Announcement {
        key: key.into(),
        permalink: format!("/blog/{key}"),
        title: format!("Title of {key}"),
        published_at: t0() - TimeDelta::hours(1),
        deliveries,
    }
}

/// `backend`'s migrations ("sqlite", "postgres") whose file names sort
/// before `first_left_out` ("0004"): the schema an older postbode left, for
/// tests of what this one makes of such a state.
pub(crate) async fn migrator_before(
    backend: &str,
    first_left_out: &str,
) -> sqlx::migrate::Migrator {
    let old = tempfile::tempdir().unwrap();
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/state")
        .join(backend)
        .join("migrations");
    for entry in std::fs::read_dir(&all).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().as_ref() < first_left_out {
            std::fs::copy(all.join(&name), old.path().join(&name)).unwrap();
        }
    }
    // Read into memory here: the folder goes when this returns.
    sqlx::migrate::Migrator::new(old.path()).await.unwrap()
}

/// One post for alice (email) and bob (webhook).
pub(crate) async fn two_deliveries<S: StateStore>(store: &S) -> usize {
    let post = announcement(
        "hello",
        vec![
            delivery("alice", "email", None),
            delivery("bob", "webhook", None),
        ],
    );
    store.record(BLOG, t0(), &[], &[post]).await.unwrap()
}

pub(crate) fn ids(claimed: &[Claimed]) -> Vec<i64> {
    claimed.iter().map(|c| c.id).collect()
}

#[test]
fn backoff_doubles_from_one_minute_and_stops_at_six_hours() {
    let minutes = |attempts| backoff_with(attempts, 0.5).as_secs() / 60;
    assert_eq!(minutes(0), 1);
    assert_eq!(minutes(1), 1);
    assert_eq!(minutes(2), 2);
    assert_eq!(minutes(3), 4);
    assert_eq!(minutes(9), 256);
    assert_eq!(minutes(10), 360);
    assert_eq!(minutes(u32::MAX), 360);
}

#[test]
fn backoff_jitter_stays_within_twenty_percent() {
    assert_eq!(backoff_with(1, 0.0), Duration::from_secs(48));
    assert_eq!(backoff_with(1, 1.0), Duration::from_secs(72));
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..1000 {
        let d = backoff(3);
        assert!(
            d >= Duration::from_secs(192) && d <= Duration::from_secs(288),
            "{d:?}"
        );
        seen.insert(d);
        let capped = backoff(40);
        assert!(
            capped >= Duration::from_secs(17_280) && capped <= Duration::from_secs(25_920),
            "{capped:?}"
        );
    }
    assert!(seen.len() > 100, "the jitter should vary: {seen:?}");
}

#[test]
fn leases_end_no_later_than_the_last_second_of_year_9999() {
    let end = after(t0(), Duration::MAX);
    assert_eq!(end.to_rfc3339(), "9999-12-31T23:59:59+00:00");
    assert_eq!(after(t0(), LEASE), minutes(5));
}

#[test]
fn delivery_statuses_read_back_what_they_write() {
    for status in DeliveryStatus::ALL {
        assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(status));
        assert_eq!(
            DeliveryStatus::try_from(status.as_str().to_string()),
            Ok(status)
        );
    }
    assert!("lost".parse::<DeliveryStatus>().is_err());
}
