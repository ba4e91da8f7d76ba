//! Runs on PostgreSQL. There is no exclusive run lock: several workers (on
//! several machines) run a blog at once and share its outbox. A run is a
//! `runs` row plus a session advisory lock on its id, held by a connection
//! of its own that the `RunGuard` keeps: while that session lives the run is
//! alive, and when it ends – the guard dropped, the process killed, the
//! server restarted – its claimed deliveries are free for the next claim at
//! once (`postbode_live_runs()` in the migration), with no process-id check
//! across hosts. A machine that vanishes without closing its connection
//! loses its claims when their lease expires, since the lease is renewed
//! only by a heartbeat.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::state::Located as _;
use crate::state::{RunGuard, StateError, after};

/// The session that keeps a run alive (see the module docs). Dropping it
/// closes the connection, which ends the run's advisory lock.
struct Session(#[allow(dead_code)] sqlx::PgConnection);

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgreSQL session")
    }
}

pub(super) async fn begin_run(
    store: &PgStore,
    blog: &str,
    now: DateTime<Utc>,
    _wait: Duration,
) -> Result<RunGuard, StateError> {
    let what = "starting a run";
    let me = crate::state::sqlite::lock::me();
    // Runs that died without finishing are shown as abandoned, not as
    // running for ever.
    sqlx::query(
        "UPDATE runs SET status = 'abandoned'
         WHERE blog = $1 AND status = 'running'
           AND id NOT IN (SELECT postbode_live_runs())",
    )
    .bind(blog)
    .execute(&store.pool)
    .await
    .map_err(store.err(what))?;
    let run_id: i64 = sqlx::query_scalar(
        "INSERT INTO runs (blog, pid, hostname, started_at, heartbeat_at, status)
         VALUES ($1, $2, $3, $4, $4, 'running') RETURNING id",
    )
    .bind(blog)
    .bind(i64::from(me.pid))
    .bind(&me.hostname)
    .bind(now)
    .fetch_one(&store.pool)
    .await
    .map_err(store.err(what))?;
    let mut session = store.dedicated().await.map_err(store.err(what))?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(run_id)
        .execute(&mut session)
        .await
        .map_err(store.err(what))?;
    Ok(RunGuard {
        run_id,
        blog: blog.to_string(),
        _hold: Box::new(std::sync::Mutex::new(Session(session))),
    })
}

/// Whether the run's session still holds its lock (it ends with the
/// connection: a server restart, an administrator's pg_terminate_backend).
pub(super) async fn is_alive(
    store: &PgStore,
    conn: impl sqlx::PgExecutor<'_>,
    run: &RunGuard,
    what: &'static str,
) -> Result<bool, StateError> {
    sqlx::query_scalar("SELECT $1 IN (SELECT postbode_live_runs())")
        .bind(run.run_id)
        .fetch_one(conn)
        .await
        .map_err(store.err(what))
}

pub(super) async fn heartbeat(
    store: &PgStore,
    run: &RunGuard,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<(), StateError> {
    let what = "renewing the run's leases";
    let mut tx = store.pool.begin().await.map_err(store.err(what))?;
    if !is_alive(store, &mut *tx, run, what).await? {
        return Err(store.lock_lost(run));
    }
    sqlx::query("UPDATE runs SET heartbeat_at = $2 WHERE id = $1")
        .bind(run.run_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    // Only rows still leased to this run: one another run took over (this
    // run looked dead) stays the other's. No index names the lease (a claim
    // would then rewrite every index entry of its rows): the rows are found
    // among the blog's open ones.
    let until = after(now, lease);
    sqlx::query(
        "UPDATE deliveries SET lease_until = $2, next_attempt_at = $2
         WHERE blog = $3 AND NOT closed
           AND lease_run = $1 AND status = 'sending' AND lease_until < $2",
    )
    .bind(run.run_id)
    .bind(until)
    .bind(&run.blog)
    .execute(&mut *tx)
    .await
    .map_err(store.err(what))?;
    tx.commit().await.map_err(store.err(what))?;
    Ok(())
}

pub(super) async fn finish_run(
    store: &PgStore,
    run: RunGuard,
    now: DateTime<Utc>,
    summary_json: &str,
) -> Result<(), StateError> {
    sqlx::query(
        "UPDATE runs SET finished_at = $2, status = 'finished', summary = $3 WHERE id = $1",
    )
    .bind(run.run_id)
    .bind(now)
    .bind(summary_json)
    .execute(&store.pool)
    .await
    .map_err(store.err("finishing the run"))?;
    // Dropping the guard closes the session and with it the run's lock.
    drop(run);
    Ok(())
}
