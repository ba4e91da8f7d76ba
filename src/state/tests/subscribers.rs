//! Disabled subscribers, as every backend must keep them: listed with since
//! when and why, the target they were disabled with noted once (the first
//! one, the one that was refused), and switched back on one by one or all
//! of a blog at once.

use super::*;

for_each_store!([
    a_disabled_subscriber_is_listed_with_since_when_why_and_its_target_noted_once,
    enabling_switches_subscribers_back_on_per_blog_and_leaves_their_dead_deliveries_dead,
]);

async fn a_disabled_subscriber_is_listed_with_since_when_why_and_its_target_noted_once<
    S: TestStore,
>() {
    let (_keep, store) = S::fresh().await;
    two_deliveries(&store).await;
    store
        .disable_subscriber(BLOG, "bob", minutes(3), "HTTP 410 Gone")
        .await
        .unwrap();
    let rows = store.disabled_subscriber_rows(BLOG).await.unwrap();
    assert_eq!(
        rows,
        vec![DisabledSubscriber {
            subscriber: "bob".into(),
            disabled_at: minutes(3),
            reason: "HTTP 410 Gone".into(),
            target_sha256: None,
        }]
    );
    let noted = [
        ("bob".to_string(), "a".repeat(64)),
        // Not disabled: nothing to note.
        ("alice".to_string(), "b".repeat(64)),
    ];
    assert_eq!(store.note_disabled_targets(BLOG, &noted).await.unwrap(), 1);
    // The first target noted stays: it is the one the receiver refused.
    let later = [("bob".to_string(), "c".repeat(64))];
    assert_eq!(store.note_disabled_targets(BLOG, &later).await.unwrap(), 0);
    let rows = store.disabled_subscriber_rows(BLOG).await.unwrap();
    assert_eq!(rows[0].target_sha256, Some("a".repeat(64)));
    assert!(
        store
            .disabled_subscriber_rows("other")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn enabling_switches_subscribers_back_on_per_blog_and_leaves_their_dead_deliveries_dead<
    S: TestStore,
>() {
    let (_keep, store) = S::fresh().await;
    two_deliveries(&store).await;
    for (blog, who) in [(BLOG, "alice"), (BLOG, "bob"), ("other", "bob")] {
        store
            .disable_subscriber(blog, who, t0(), "HTTP 410 Gone")
            .await
            .unwrap();
    }
    assert!(store.enable_subscriber(BLOG, "alice").await.unwrap());
    assert!(!store.enable_subscriber(BLOG, "alice").await.unwrap());
    let left: Vec<String> = store
        .disabled_subscribers(BLOG)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(left, ["bob"]);
    let open = store.open_deliveries(BLOG).await.unwrap();
    assert!(open.iter().all(|d| d.status == DeliveryStatus::Dead));

    assert_eq!(store.enable_all_subscribers(BLOG).await.unwrap(), 1);
    assert!(store.disabled_subscribers(BLOG).await.unwrap().is_empty());
    assert_eq!(
        store.disabled_subscribers("other").await.unwrap().len(),
        1,
        "another blog's subscribers stay off"
    );
}
