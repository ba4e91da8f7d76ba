//! Switching disabled subscribers back on, in SQLite, and remembering which
//! target each was disabled with (a SHA-256, never the target: chat webhook
//! URLs are secrets), so that a changed target can enable it again.

use super::SqliteStore;
use crate::state::Located as _;
use crate::state::StateError;

pub(super) async fn note_disabled_targets(
    store: &SqliteStore,
    blog: &str,
    targets: &[(String, String)],
) -> Result<u64, StateError> {
    let what = "remembering the targets of disabled subscribers";
    let mut tx = store.begin_immediate(what).await?;
    let mut noted = 0;
    for (subscriber, sha256) in targets {
        // Only where unknown: the first target is the one that was refused.
        let done = sqlx::query(
            "UPDATE disabled_subscribers SET target_sha256 = ?3
             WHERE blog = ?1 AND subscriber = ?2 AND target_sha256 IS NULL",
        )
        .bind(blog)
        .bind(subscriber)
        .bind(sha256)
        .execute(&mut *tx)
        .await
        .map_err(store.err(what))?;
        noted += done.rows_affected();
    }
    tx.commit().await.map_err(store.err(what))?;
    Ok(noted)
}

pub(super) async fn enable_subscriber(
    store: &SqliteStore,
    blog: &str,
    subscriber: &str,
) -> Result<bool, StateError> {
    let done = sqlx::query("DELETE FROM disabled_subscribers WHERE blog = ?1 AND subscriber = ?2")
        .bind(blog)
        .bind(subscriber)
        .execute(&store.pool)
        .await
        .map_err(store.err("enabling a subscriber"))?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn enable_all_subscribers(
    store: &SqliteStore,
    blog: &str,
) -> Result<u64, StateError> {
    let done = sqlx::query("DELETE FROM disabled_subscribers WHERE blog = ?1")
        .bind(blog)
        .execute(&store.pool)
        .await
        .map_err(store.err("enabling disabled subscribers"))?;
    Ok(done.rows_affected())
}
