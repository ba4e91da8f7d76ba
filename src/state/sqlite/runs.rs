//! Runs and the run lock in SQLite: one `run_locks` row per blog names the
//! run that may send; `begin_run` takes it over from a holder that `lock.rs`
//! finds dead, `heartbeat` and `claim_due` notice when it was taken from
//! them, and `finish_run` gives it back.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::lock::{self, Holder, LiveRun};
use super::{SqliteStore, ts};
use crate::state::Located as _;
use crate::state::{RunGuard, StateError, after};

/// How often `begin_run` looks at a held lock again.
const LOCK_POLL: Duration = Duration::from_millis(250);

pub(super) async fn begin_run(
    store: &SqliteStore,
    blog: &str,
    now: DateTime<Utc>,
    wait: Duration,
) -> Result<RunGuard, StateError> {
    let started = Instant::now();
    let what = "taking the run lock";
    loop {
        // The clock moves on while we wait; `now` is when we were asked.
        let now_here = after(now, started.elapsed());
        let mut tx = store.begin_immediate(what).await?;
        let holder: Option<Holder> = sqlx::query_as(
            "SELECT run_id, pid, hostname, proc_start, heartbeat_at
             FROM run_locks WHERE blog = ?1",
        )
        .bind(blog)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store.err(what))?;
        match holder {
            Some(holder) if lock::is_alive(&store.key, &holder, now_here) => {
                tx.rollback().await.map_err(store.err(what))?;
                let waited = started.elapsed();
                if waited >= wait {
                    return Err(StateError::Locked {
                        path: store.at(),
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
                    .map_err(store.err(what))?;
                }
                let run_id = take_lock(&mut tx, blog, now_here)
                    .await
                    .map_err(store.err(what))?;
                // Registered before the commit so the lock never looks dead
                // to another task of this process.
                let live = LiveRun::register(&store.key, run_id);
                tx.commit().await.map_err(store.err(what))?;
                return Ok(RunGuard {
                    run_id,
                    blog: blog.to_string(),
                    _hold: Box::new(live),
                });
            }
        }
    }
}

/// Records a new run of this process and makes it the lock's holder.
async fn take_lock(
    tx: &mut sqlx::SqliteConnection,
    blog: &str,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let me = lock::me();
    let stamp = ts(now);
    let run_id: i64 = sqlx::query_scalar(
        "INSERT INTO runs (blog, pid, hostname, started_at, status)
         VALUES (?1, ?2, ?3, ?4, 'running') RETURNING id",
    )
    .bind(blog)
    .bind(i64::from(me.pid))
    .bind(&me.hostname)
    .bind(&stamp)
    .fetch_one(&mut *tx)
    .await?;
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
    .await?;
    Ok(run_id)
}

pub(super) async fn heartbeat(
    store: &SqliteStore,
    run: &RunGuard,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<(), StateError> {
    let what = "recording a heartbeat";
    let mut tx = store.begin_immediate(what).await?;
    let done =
        sqlx::query("UPDATE run_locks SET heartbeat_at = ?3 WHERE blog = ?1 AND run_id = ?2")
            .bind(&run.blog)
            .bind(run.run_id)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(store.err(what))?;
    if done.rows_affected() == 0 {
        return Err(store.lock_lost(run));
    }
    let until = ts(after(now, lease));
    sqlx::query(
        "UPDATE deliveries SET lease_until = ?2, next_attempt_at = ?2
         WHERE blog = ?3 AND status = 'sending' AND lease_run = ?1 AND lease_until < ?2",
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

/// Fails with `LockLost` unless `run` holds `blog`'s lock, inside `tx` so
/// that the lock cannot change hands before the transaction's writes.
pub(super) async fn check_holder(
    store: &SqliteStore,
    tx: &mut sqlx::SqliteConnection,
    blog: &str,
    run: &RunGuard,
    what: &'static str,
) -> Result<(), StateError> {
    let holder: Option<i64> = sqlx::query_scalar("SELECT run_id FROM run_locks WHERE blog = ?1")
        .bind(blog)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store.err(what))?;
    if blog != run.blog || holder != Some(run.run_id) {
        return Err(store.lock_lost(run));
    }
    Ok(())
}

pub(super) async fn finish_run(
    store: &SqliteStore,
    run: RunGuard,
    now: DateTime<Utc>,
    summary_json: &str,
) -> Result<(), StateError> {
    let what = "finishing the run";
    let mut tx = store.begin_immediate(what).await?;
    sqlx::query(
        "UPDATE runs SET finished_at = ?2, status = 'finished', summary = ?3 WHERE id = ?1",
    )
    .bind(run.run_id)
    .bind(ts(now))
    .bind(summary_json)
    .execute(&mut *tx)
    .await
    .map_err(store.err(what))?;
    // Only our own lock: if it was taken over, the new holder keeps it.
    sqlx::query("DELETE FROM run_locks WHERE blog = ?1 AND run_id = ?2")
        .bind(&run.blog)
        .bind(run.run_id)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
    tx.commit().await.map_err(store.err(what))?;
    Ok(())
}
