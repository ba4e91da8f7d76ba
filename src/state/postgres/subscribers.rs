//! Switching disabled subscribers back on, on PostgreSQL, and remembering
//! which target each was disabled with (a SHA-256, never the target).

use super::PgStore;
use crate::state::Located as _;
use crate::state::StateError;

pub(super) async fn note_disabled_targets(
    store: &PgStore,
    blog: &str,
    targets: &[(String, String)],
) -> Result<u64, StateError> {
    if targets.is_empty() {
        return Ok(0);
    }
    let (subscribers, hashes): (Vec<&str>, Vec<&str>) = targets
        .iter()
        .map(|(s, h)| (s.as_str(), h.as_str()))
        .unzip();
    // Only where unknown: the first target is the one that was refused.
    let done = sqlx::query(
        "UPDATE disabled_subscribers d SET target_sha256 = t.h
         FROM UNNEST($2::text[], $3::text[]) AS t (s, h)
         WHERE d.blog = $1 AND d.subscriber = t.s AND d.target_sha256 IS NULL",
    )
    .bind(blog)
    .bind(subscribers)
    .bind(hashes)
    .execute(&store.pool)
    .await
    .map_err(store.err("remembering the targets of disabled subscribers"))?;
    Ok(done.rows_affected())
}

pub(super) async fn enable_subscriber(
    store: &PgStore,
    blog: &str,
    subscriber: &str,
) -> Result<bool, StateError> {
    let done = sqlx::query("DELETE FROM disabled_subscribers WHERE blog = $1 AND subscriber = $2")
        .bind(blog)
        .bind(subscriber)
        .execute(&store.pool)
        .await
        .map_err(store.err("enabling a subscriber"))?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn enable_all_subscribers(store: &PgStore, blog: &str) -> Result<u64, StateError> {
    let done = sqlx::query("DELETE FROM disabled_subscribers WHERE blog = $1")
        .bind(blog)
        .execute(&store.pool)
        .await
        .map_err(store.err("enabling disabled subscribers"))?;
    Ok(done.rows_affected())
}
