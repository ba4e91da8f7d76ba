//! What the operator's commands read and change, as every backend must
//! keep it: `retry --due-now` (one or all retrying deliveries due now, and
//! clear errors for others), `retry --dead` starting a delivery over while
//! keeping its earlier attempts, `history` (sent deliveries, newest first,
//! filtered) and the gauges behind `/metrics`.

use super::*;

for_each_store!([
    retry_now_brings_retrying_deliveries_forward_and_refuses_unknown_or_not_waiting_ones,
    retry_dead_starts_a_delivery_over_as_pending_and_keeps_its_earlier_attempts,
    history_lists_sent_deliveries_newest_first_by_subscriber_post_and_date,
    gauges_count_held_digests_apart_and_disabled_subscribers,
    history_lists_the_posts_of_a_digest_as_sent_in_the_digests_message,
]);

async fn retry_now_brings_retrying_deliveries_forward_and_refuses_unknown_or_not_waiting_ones<
    S: TestStore,
>() {
    let (_keep, store) = S::fresh().await;
    two_deliveries(&store).await;
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let claimed = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
    let (alice, bob) = (claimed[0].id, claimed[1].id);
    for id in [alice, bob] {
        store
            .mark_failed(id, t0(), "503", Some(minutes(600)), false)
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .retry_now(BLOG, Some(alice), minutes(1))
            .await
            .unwrap(),
        1
    );
    let due = store
        .claim_due(BLOG, &run, minutes(1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&due), vec![alice]);
    store.mark_sent(alice, minutes(1)).await.unwrap();

    assert!(matches!(
        store.retry_now(BLOG, Some(alice), minutes(2)).await,
        Err(StateError::NotWaiting { id, status: DeliveryStatus::Sent, .. }) if id == alice
    ));
    assert!(matches!(
        store.retry_now(BLOG, Some(9999), minutes(2)).await,
        Err(StateError::NoSuchDelivery { id: 9999, .. })
    ));
    assert!(matches!(
        store.retry_now("other", Some(bob), minutes(2)).await,
        Err(StateError::NoSuchDelivery { .. })
    ));
    assert_eq!(store.retry_now(BLOG, None, minutes(2)).await.unwrap(), 1);
    assert_eq!(
        store.retry_now(BLOG, None, minutes(3)).await.unwrap(),
        0,
        "already due"
    );
    let due = store
        .claim_due(BLOG, &run, minutes(2), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&due), vec![bob]);
}

async fn retry_dead_starts_a_delivery_over_as_pending_and_keeps_its_earlier_attempts<
    S: TestStore,
>() {
    let (_keep, store) = S::fresh().await;
    two_deliveries(&store).await;
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let claimed = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
    let bob = claimed[1].id;
    store.mark_sent(claimed[0].id, t0()).await.unwrap();
    store
        .mark_failed(bob, t0(), "550 gone", None, true)
        .await
        .unwrap();
    assert_eq!(store.retry_dead(BLOG, minutes(1)).await.unwrap(), 1);
    let open = store.open_deliveries(BLOG).await.unwrap();
    let row = &open[0];
    assert_eq!(
        (row.status, row.attempts, row.previous_attempts),
        (DeliveryStatus::Pending, 0, 1)
    );
    assert!(row.restarted());
    assert_eq!(row.last_error.as_deref(), Some("550 gone"));
    let again = store
        .claim_due(BLOG, &run, minutes(1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&again), vec![bob]);
    let open = store.open_deliveries(BLOG).await.unwrap();
    assert!(!open[0].restarted(), "tried again since");
}

async fn history_lists_sent_deliveries_newest_first_by_subscriber_post_and_date<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    two_deliveries(&store).await;
    let later = announcement("later", vec![delivery("alice", "email", None)]);
    store.record(BLOG, t0(), &[], &[later]).await.unwrap();
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let claimed = store.claim_due(BLOG, &run, t0(), LEASE, 10).await.unwrap();
    store.mark_sent(claimed[0].id, minutes(1)).await.unwrap();
    store.mark_sent(claimed[2].id, minutes(3)).await.unwrap();
    store
        .mark_failed(claimed[1].id, minutes(2), "503", None, false)
        .await
        .unwrap();

    let all = store
        .history(BLOG, &HistoryFilter::default())
        .await
        .unwrap();
    let got: Vec<(&str, &str, DateTime<Utc>)> = all
        .iter()
        .map(|s| (s.subscriber.as_str(), s.permalink.as_str(), s.sent_at))
        .collect();
    assert_eq!(
        got,
        vec![
            ("alice", "/blog/later", minutes(3)),
            ("alice", "/blog/hello", minutes(1))
        ],
        "sent ones only, newest first"
    );
    assert_eq!(all[0].title, "Title of later");
    let filter = |subscriber: Option<&str>, permalink: Option<&str>, since| HistoryFilter {
        subscriber: subscriber.map(str::to_string),
        permalink: permalink.map(str::to_string),
        since,
    };
    let n = async |f: HistoryFilter| store.history(BLOG, &f).await.unwrap().len();
    assert_eq!(n(filter(Some("bob"), None, None)).await, 0);
    assert_eq!(n(filter(None, Some("/blog/hello/"), None)).await, 1);
    assert_eq!(n(filter(None, None, Some(minutes(2)))).await, 1);
    assert_eq!(
        store
            .history("other", &HistoryFilter::default())
            .await
            .unwrap()
            .len(),
        0
    );
}

async fn gauges_count_held_digests_apart_and_disabled_subscribers<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let post = announcement(
        "hello",
        vec![
            delivery("alice", "email", None),
            delivery("weekly", "email", Some(minutes(60))),
            delivery("gone", "webhook", None),
        ],
    );
    store.record(BLOG, t0(), &[], &[post]).await.unwrap();
    store
        .disable_subscriber(BLOG, "gone", t0(), "HTTP 410")
        .await
        .unwrap();
    let g = store.gauges(BLOG, minutes(1)).await.unwrap();
    let counts: Vec<(&str, u64)> = g.deliveries.iter().map(|(s, n)| (*s, *n)).collect();
    assert_eq!(
        counts,
        vec![
            ("dead", 1),
            ("held", 1),
            ("pending", 1),
            ("retrying", 0),
            ("sending", 0),
            ("sent", 0)
        ]
    );
    assert_eq!(g.disabled_subscribers, 1);
    // Once its time has come, a held digest is pending like any other.
    let g = store.gauges(BLOG, minutes(61)).await.unwrap();
    assert_eq!((g.deliveries["held"], g.deliveries["pending"]), (0, 2));
    let empty = store.gauges("other", t0()).await.unwrap();
    assert_eq!(empty.deliveries.len(), GAUGE_STATUSES.len());
    assert!(empty.deliveries.values().all(|&n| n == 0));
}

async fn history_lists_the_posts_of_a_digest_as_sent_in_the_digests_message<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let tomorrow = minutes(24 * 60);
    let posts: Vec<Announcement> = ["a", "b"]
        .iter()
        .map(|key| announcement(key, vec![delivery("digest", "email", Some(tomorrow))]))
        .collect();
    store.record(BLOG, t0(), &[], &posts).await.unwrap();
    let held = store.held_for(BLOG, "digest").await.unwrap();
    let (keep, merged) = (held[0].id, held[1].id);
    store
        .merge_into(keep, &[merged], &payload("both"))
        .await
        .unwrap();
    assert!(
        store
            .history(BLOG, &HistoryFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "nothing sent yet"
    );
    let run = store.begin_run(BLOG, t0(), Duration::ZERO).await.unwrap();
    let due = store
        .claim_due(BLOG, &run, tomorrow, LEASE, 10)
        .await
        .unwrap();
    assert_eq!(ids(&due), vec![keep]);
    store.mark_sent(keep, tomorrow).await.unwrap();

    let sent = store
        .history(BLOG, &HistoryFilter::default())
        .await
        .unwrap();
    let got: Vec<(i64, &str, DateTime<Utc>, Option<i64>)> = sent
        .iter()
        .map(|s| (s.id, s.post_key.as_str(), s.sent_at, s.digest_id))
        .collect();
    assert_eq!(
        got,
        vec![
            (merged, "b", tomorrow, Some(keep)),
            (keep, "a", tomorrow, None)
        ]
    );
}
