//! The outbox, as every backend must keep it: deliveries recorded once,
//! leased to one run at a time, settled, retried, held for digests and
//! merged, and switched off with their subscriber.

use std::time::{Duration, Instant};

use super::*;

for_each_store!([
    recording_the_same_announcement_twice_inserts_its_deliveries_once,
    seen_posts_keep_their_key_take_new_titles_and_first_run_posts_count_as_announced,
    claimed_rows_stay_leased_until_the_lease_expires,
    a_lease_held_by_a_run_whose_process_died_is_free_at_once_for_the_next_run,
    failed_deliveries_wait_for_their_next_attempt_and_dead_ones_can_be_retried,
    a_released_delivery_is_due_again_without_counting_the_attempt,
    held_deliveries_wait_for_their_hold_time_and_merge_into_one_digest,
    a_disabled_subscriber_is_listed_and_its_waiting_deliveries_die,
    settling_many_outcomes_at_once_records_each_as_its_own_call_would,
    outcomes_settled_together_keep_each_its_own_time,
    a_posts_payload_is_stored_once_however_many_deliveries_carry_it,
]);

async fn recording_the_same_announcement_twice_inserts_its_deliveries_once<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    assert!(!store.has_history(BLOG).await.unwrap());
    assert_eq!(two_deliveries(&store).await, 2);
    let again = announcement(
        "hello",
        vec![
            delivery("alice", "email", None),
            delivery("bob", "webhook", None),
        ],
    );
    assert_eq!(
        store
            .record(BLOG, minutes(60), &[], &[again])
            .await
            .unwrap(),
        0
    );
    assert!(store.has_history(BLOG).await.unwrap());
    assert!(!store.has_history("other").await.unwrap());
    assert_eq!(store.announced_at(BLOG, "hello").await, Some(t0()));
    assert_eq!(store.counts(BLOG).await.unwrap()["pending"], 2);
}

async fn seen_posts_keep_their_key_take_new_titles_and_first_run_posts_count_as_announced<
    S: TestStore,
>() {
    let (_keep, store) = S::fresh().await;
    let post = |key: &str, title: &str, announced| SeenPost {
        key: key.into(),
        permalink: format!("/blog/{key}"),
        title: title.into(),
        announced,
    };
    let first = [post("old", "Old", true), post("draft", "Draft", false)];
    assert_eq!(store.record(BLOG, t0(), &first, &[]).await.unwrap(), 0);
    // A later run sees the draft renamed, and `announced = false` never
    // takes an announcement back.
    let later = [
        post("old", "Old, edited", false),
        post("draft", "Draft 2", false),
    ];
    store.record(BLOG, minutes(5), &later, &[]).await.unwrap();
    assert_eq!(
        store.seen_posts(BLOG).await.unwrap(),
        vec![
            post("draft", "Draft 2", false),
            post("old", "Old, edited", true)
        ]
    );
    assert_eq!(store.counts(BLOG).await.unwrap().values().sum::<u64>(), 0);
}

async fn claimed_rows_stay_leased_until_the_lease_expires<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    two_deliveries(&store).await;
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let first = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first[0].id < first[1].id);
    assert_eq!(first[0].subscriber, "alice");
    assert_eq!(first[0].attempts, 1);
    assert_eq!(first[0].payload, payload("p"));
    assert!(
        store
            .claim_due(BLOG, &run, t0(), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_due(BLOG, &run, minutes(4), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let counts = store.counts(BLOG).await.unwrap();
    assert_eq!((counts["sending"], counts["pending"]), (2, 0));
    // The fallback next attempt shows when a dead process's row returns.
    let open = store.open_deliveries(BLOG).await.unwrap();
    assert_eq!(open[0].id, first[0].id);
    assert!(open[0].next_attempt_at.unwrap() > t0());

    let again = store
        .claim_due(BLOG, &run, minutes(5), LEASE, 1)
        .await
        .unwrap();
    assert_eq!(ids(&again), vec![first[0].id]);
    assert_eq!(again[0].attempts, 2);
    store.mark_sent(first[1].id, minutes(6)).await.unwrap();
    // The sent row is settled; the other's second lease has expired.
    let later = store
        .claim_due(BLOG, &run, minutes(60), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&later), vec![first[0].id]);
    store.finish_run(run, minutes(61), "{}").await.unwrap();
}

async fn a_lease_held_by_a_run_whose_process_died_is_free_at_once_for_the_next_run<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    two_deliveries(&store).await;
    let crashed = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let crashed_id = crashed.run_id;
    let leased = store
        .claim_due(BLOG, &crashed, t0(), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(leased.len(), 2);
    // As if the process had died: its guard never drops.
    store.crash(&crashed).await;
    std::mem::forget(crashed);

    let started = Instant::now();
    let next = store
        .begin_run(BLOG, minutes(1), Duration::from_secs(10))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_ne!(next.run_id, crashed_id);
    let reclaimed = store
        .claim_due(BLOG, &next, minutes(1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&reclaimed), ids(&leased));
    assert!(reclaimed.iter().all(|c| c.attempts == 2));
    assert_eq!(
        store.run_status(crashed_id).await.as_deref(),
        Some("abandoned")
    );
}

async fn failed_deliveries_wait_for_their_next_attempt_and_dead_ones_can_be_retried<
    S: TestStore,
>() {
    let (_keep, store) = S::fresh().await;
    two_deliveries(&store).await;
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let claimed = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
    let (alice, bob) = (claimed[0].id, claimed[1].id);
    let long_error = "é".repeat(5000);
    store
        .mark_failed(alice, t0(), &long_error, Some(minutes(10)), false)
        .await
        .unwrap();
    store
        .mark_failed(bob, t0(), "550 no such user", None, true)
        .await
        .unwrap();

    assert!(
        store
            .claim_due(BLOG, &run, minutes(9), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let open = store.open_deliveries(BLOG).await.unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(
        (open[0].id, open[0].status),
        (alice, DeliveryStatus::Retrying)
    );
    assert_eq!(open[0].next_attempt_at, Some(minutes(10)));
    assert_eq!(
        open[0].last_error.as_ref().map(|e| e.chars().count()),
        Some(MAX_ERROR_CHARS)
    );
    assert_eq!((open[1].id, open[1].status), (bob, DeliveryStatus::Dead));
    assert_eq!(open[1].last_error.as_deref(), Some("550 no such user"));
    assert_eq!((open[1].attempts, open[1].post_key.as_str()), (1, "hello"));
    let counts = store.counts(BLOG).await.unwrap();
    assert_eq!(
        (counts["retrying"], counts["dead"], counts["sent"]),
        (1, 1, 0)
    );

    let due = store
        .claim_due(BLOG, &run, minutes(10), LEASE, 10)
        .await
        .unwrap();
    assert_eq!((ids(&due), due[0].attempts), (vec![alice], 2));
    store.mark_sent(alice, minutes(11)).await.unwrap();
    assert_eq!(store.retry_dead(BLOG, minutes(20)).await.unwrap(), 1);
    let retried = store
        .claim_due(BLOG, &run, minutes(20), LEASE, 10)
        .await
        .unwrap();
    assert_eq!((ids(&retried), retried[0].attempts), (vec![bob], 1));
    store.mark_sent(bob, minutes(21)).await.unwrap();
    assert!(store.open_deliveries(BLOG).await.unwrap().is_empty());
    assert_eq!(store.counts(BLOG).await.unwrap()["sent"], 2);
    assert!(matches!(
        store.mark_sent(9999, minutes(21)).await,
        Err(StateError::NoSuchDelivery { id: 9999, .. })
    ));
}

async fn a_released_delivery_is_due_again_without_counting_the_attempt<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    two_deliveries(&store).await;
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let claimed = store.claim_due(BLOG, &run, t0(), LEASE, 1).await.unwrap();
    store.release(claimed[0].id).await.unwrap();
    let open = store.open_deliveries(BLOG).await.unwrap();
    assert_eq!(
        (open[0].status, open[0].attempts),
        (DeliveryStatus::Pending, 0)
    );
    let again = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!((again[0].id, again[0].attempts), (claimed[0].id, 1));
}

async fn held_deliveries_wait_for_their_hold_time_and_merge_into_one_digest<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let tomorrow = minutes(24 * 60);
    let posts: Vec<Announcement> = ["a", "b", "c"]
        .iter()
        .map(|key| {
            announcement(
                key,
                vec![
                    delivery("digest", "email", Some(tomorrow)),
                    delivery("now", "webhook", None),
                ],
            )
        })
        .collect();
    assert_eq!(store.record(BLOG, t0(), &[], &posts).await.unwrap(), 6);
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let immediate = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
    assert!(immediate.iter().all(|c| c.subscriber == "now"));
    assert_eq!(immediate.len(), 3);
    for c in &immediate {
        store.mark_sent(c.id, t0()).await.unwrap();
    }
    assert!(
        store
            .claim_due(BLOG, &run, tomorrow - TimeDelta::seconds(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let held = store.held_for(BLOG, "digest").await.unwrap();
    assert_eq!(held.len(), 3);
    assert!(store.held_for(BLOG, "now").await.unwrap().is_empty());
    let digest = payload("digest of three");
    // A row of another subscriber cannot be merged, and nothing changes.
    assert!(
        store
            .merge_into(held[0].id, &[held[1].id, immediate[0].id], &digest)
            .await
            .is_err()
    );
    assert_eq!(store.held_for(BLOG, "digest").await.unwrap(), held);

    store
        .merge_into(held[0].id, &[held[1].id, held[2].id], &digest)
        .await
        .unwrap();
    let due = store
        .claim_due(BLOG, &run, tomorrow, LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&due), vec![held[0].id]);
    assert_eq!(due[0].payload, digest);
    assert_eq!(
        store.last_error(held[2].id).await,
        Some(format!("merged into digest #{}", held[0].id))
    );
    let counts = store.counts(BLOG).await.unwrap();
    assert_eq!(
        (counts["sent"], counts["sending"], counts["pending"]),
        (5, 1, 0)
    );
}

async fn a_disabled_subscriber_is_listed_and_its_waiting_deliveries_die<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    two_deliveries(&store).await;
    store
        .disable_subscriber(BLOG, "bob", t0(), "HTTP 410 Gone")
        .await
        .unwrap();
    store
        .disable_subscriber(BLOG, "bob", minutes(1), "again")
        .await
        .unwrap();
    assert_eq!(
        store.disabled_subscribers(BLOG).await.unwrap(),
        vec![("bob".to_string(), "HTTP 410 Gone".to_string())]
    );
    assert!(
        store
            .disabled_subscribers("other")
            .await
            .unwrap()
            .is_empty()
    );
    let open = store.open_deliveries(BLOG).await.unwrap();
    assert_eq!(open[1].status, DeliveryStatus::Dead);
    assert_eq!(
        open[1].last_error.as_deref(),
        Some("subscriber disabled: HTTP 410 Gone")
    );
    assert_eq!(open[0].status, DeliveryStatus::Pending);
}

async fn settling_many_outcomes_at_once_records_each_as_its_own_call_would<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let three = announcement(
        "hello",
        vec![
            delivery("alice", "email", None),
            delivery("bob", "webhook", None),
            delivery("carol", "webhook", None),
        ],
    );
    store.record(BLOG, t0(), &[], &[three]).await.unwrap();
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let claimed = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
    let [sent, failed, released] = [claimed[0].id, claimed[1].id, claimed[2].id];
    store
        .settle(&[
            Settlement::Sent {
                id: sent,
                at: minutes(1),
            },
            Settlement::Failed {
                id: failed,
                at: minutes(1),
                error: "HTTP 503".into(),
                next_attempt_at: Some(minutes(10)),
                dead: false,
            },
            Settlement::Released { id: released },
        ])
        .await
        .unwrap();
    let counts = store.counts(BLOG).await.unwrap();
    assert_eq!(
        (counts["sent"], counts["retrying"], counts["pending"]),
        (1, 1, 1)
    );
    let open = store.open_deliveries(BLOG).await.unwrap();
    let retrying = open.iter().find(|d| d.id == failed).unwrap();
    assert_eq!(retrying.next_attempt_at, Some(minutes(10)));
    assert_eq!(retrying.last_error.as_deref(), Some("HTTP 503"));
    let pending = open.iter().find(|d| d.id == released).unwrap();
    assert_eq!(pending.attempts, 0, "a release does not count the attempt");
    // Nothing to do is no transaction at all.
    store.settle(&[]).await.unwrap();
}

/// With a real clock every outcome has a time of its own: a group settled
/// at once (sent only, and sent beside a failure) keeps each one's.
async fn outcomes_settled_together_keep_each_its_own_time<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let four = announcement(
        "hello",
        ["alice", "bob", "carol", "dave"]
            .iter()
            .map(|s| delivery(s, "webhook", None))
            .collect(),
    );
    store.record(BLOG, t0(), &[], &[four]).await.unwrap();
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let claimed = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
    let sent = |i: usize, minute: i64| Settlement::Sent {
        id: claimed[i].id,
        at: minutes(minute),
    };
    store.settle(&[sent(0, 3), sent(1, 1)]).await.unwrap();
    store
        .settle(&[
            sent(2, 7),
            Settlement::Failed {
                id: claimed[3].id,
                at: minutes(5),
                error: "HTTP 503".into(),
                next_attempt_at: Some(minutes(10)),
                dead: false,
            },
        ])
        .await
        .unwrap();
    let mut when: Vec<(String, DateTime<Utc>)> = store
        .history(BLOG, &HistoryFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.subscriber, d.sent_at))
        .collect();
    when.sort();
    assert_eq!(
        when,
        [
            ("alice".to_string(), minutes(3)),
            ("bob".to_string(), minutes(1)),
            ("carol".to_string(), minutes(7)),
        ]
    );
    let counts = store.counts(BLOG).await.unwrap();
    assert_eq!((counts["sent"], counts["retrying"]), (3, 1));
}

async fn a_posts_payload_is_stored_once_however_many_deliveries_carry_it<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let many: Vec<NewDelivery> = (0..300)
        .map(|i| delivery(&format!("s{i:03}"), "webhook", None))
        .collect();
    let hello = announcement("hello", many);
    assert_eq!(
        store
            .record(BLOG, t0(), &[], std::slice::from_ref(&hello))
            .await
            .unwrap(),
        300
    );
    assert_eq!(store.stored_payloads().await, 1);
    // Recorded again, and by another blog with the same message: still one.
    store.record(BLOG, minutes(1), &[], &[hello]).await.unwrap();
    let elsewhere = announcement("hello", vec![delivery("s000", "webhook", None)]);
    store
        .record("other", minutes(1), &[], &[elsewhere])
        .await
        .unwrap();
    assert_eq!(store.stored_payloads().await, 1);
    // Another post has a message of its own.
    let mut news = announcement(
        "news",
        vec![
            delivery("s000", "webhook", None),
            delivery("s001", "email", None),
        ],
    );
    for d in &mut news.deliveries {
        d.payload = payload("news");
    }
    assert_eq!(
        store.record(BLOG, minutes(1), &[], &[news]).await.unwrap(),
        2
    );
    assert_eq!(store.stored_payloads().await, 2);

    // Every claimed row carries its own post's message.
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let mut claimed = Vec::new();
    loop {
        let batch = store
            .claim_due(BLOG, &run, minutes(2), LEASE, 128)
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        claimed.extend(batch);
    }
    assert_eq!(claimed.len(), 302);
    assert!(claimed.windows(2).all(|w| w[0].id < w[1].id));
    assert!(claimed[..300].iter().all(|c| c.payload == payload("p")));
    assert!(claimed[300..].iter().all(|c| c.payload == payload("news")));
    assert_eq!(claimed[301].subscriber, "s001");
    store.finish_run(run, minutes(3), "{}").await.unwrap();
}
