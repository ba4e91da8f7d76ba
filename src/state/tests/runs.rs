//! Runs, as every backend must keep them. SQLite: one run per blog at a
//! time, a waiting run served as soon as the lock is free. PostgreSQL: runs
//! of a blog at once (they share the outbox). Both: a dead run's claims
//! taken over at once, and the dead run told so when it comes back.

use std::time::{Duration, Instant};

use super::*;

for_each_store!([
    a_second_run_waits_for_a_live_lock_and_gives_up_with_locked,
    a_lock_held_by_a_dead_run_is_taken_over_at_once_and_its_holder_notices,
    a_guard_dropped_without_finishing_frees_the_lock_in_this_process,
]);

async fn a_second_run_waits_for_a_live_lock_and_gives_up_with_locked<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    if S::SHARES_RUNS {
        // No lock to wait for: both start at once, and both finish.
        let started = Instant::now();
        let (a, b) = tokio::join!(
            store.begin_run(BLOG, t0(), Duration::from_secs(10)),
            store.begin_run(BLOG, t0(), Duration::from_secs(10))
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_ne!(a.run_id, b.run_id);
        store
            .finish_run(a, minutes(1), r#"{"sent": 0}"#)
            .await
            .unwrap();
        store.finish_run(b, minutes(1), "{}").await.unwrap();
        assert_eq!(store.finished_summaries(BLOG).await.len(), 2);
        return;
    }
    let wait = Duration::from_millis(400);
    let started = Instant::now();
    let (a, b) = tokio::join!(
        store.begin_run(BLOG, t0(), wait),
        store.begin_run(BLOG, t0(), wait)
    );
    let (winner, loser) = match (a, b) {
        (Ok(guard), Err(e)) | (Err(e), Ok(guard)) => (guard, e),
        other => panic!("expected one lock and one refusal: {other:?}"),
    };
    assert!(started.elapsed() >= wait);
    match &loser {
        StateError::Locked { blog, holder, .. } => {
            assert_eq!(blog, BLOG);
            assert!(
                holder.contains(&format!("run #{}", winner.run_id)),
                "{holder}"
            );
        }
        other => panic!("expected Locked: {other}"),
    }
    assert!(loser.to_string().contains(&store.location()), "{loser}");
    // Other blogs have their own lock.
    let other = store
        .begin_run("other", t0(), Duration::ZERO)
        .await
        .unwrap();
    store.finish_run(other, t0(), "{}").await.unwrap();

    // A waiting run gets the lock as soon as the holder finishes.
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.begin_run(BLOG, t0(), Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    store
        .finish_run(winner, minutes(1), r#"{"sent": 0}"#)
        .await
        .unwrap();
    let next = waiting.await.unwrap().unwrap();
    store.finish_run(next, minutes(2), "{}").await.unwrap();
    assert_eq!(
        store.finished_summaries(BLOG).await,
        vec![Some(r#"{"sent": 0}"#.to_string()), Some("{}".to_string())]
    );
}

async fn a_lock_held_by_a_dead_run_is_taken_over_at_once_and_its_holder_notices<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let stale = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    store.crash(&stale).await;
    let started = Instant::now();
    let fresh_run = store
        .begin_run(BLOG, t0(), Duration::from_secs(10))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(
        store.heartbeat(&stale, minutes(1), LEASE).await,
        Err(StateError::LockLost { .. })
    ));
    assert!(matches!(
        store.claim_due(BLOG, &stale, minutes(1), LEASE, 10).await,
        Err(StateError::LockLost { .. })
    ));
    // Finishing the stale run leaves the new holder's lock alone.
    store.finish_run(stale, minutes(1), "{}").await.unwrap();
    store
        .heartbeat(&fresh_run, minutes(1), LEASE)
        .await
        .unwrap();
    if S::SHARES_RUNS {
        return;
    }
    assert!(
        store
            .begin_run(BLOG, minutes(1), Duration::ZERO)
            .await
            .is_err()
    );
}

async fn a_guard_dropped_without_finishing_frees_the_lock_in_this_process<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    drop(store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap());
    store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
}
