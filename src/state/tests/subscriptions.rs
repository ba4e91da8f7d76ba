//! Subscriptions of `postbode serve` and opt-outs, as every backend must
//! keep them: one row per address (case-insensitively), a confirmation that
//! works once, at most one mail per address per quiet time, choices that a
//! stranger cannot change once confirmed, and leaving that erases the
//! address and cancels what was not sent.

use super::*;
use crate::state::subscriptions::{Choices, Confirmed, Kind, Requested, WebhookTarget};

for_each_store!([
    a_sign_up_is_pending_until_confirmed_once_and_mails_are_spaced,
    a_confirmed_subscription_keeps_its_choices_against_a_new_request,
    leaving_erases_the_address_and_cancels_what_was_not_sent,
    unconfirmed_sign_ups_are_purged_and_webhooks_are_unique_per_blog,
]);

fn choices(tags: &[&str]) -> Choices {
    Choices {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        authors: vec![],
        digest: "none".into(),
        language: "nl".into(),
    }
}

const QUIET: TimeDelta = TimeDelta::minutes(10);

async fn a_sign_up_is_pending_until_confirmed_once_and_mails_are_spaced<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let store = store.as_store();
    let Requested::Pending {
        subscription: first,
        mail: true,
    } = store
        .request_email(
            BLOG,
            "Anna@Example.org",
            &choices(&["api"]),
            minutes(0),
            QUIET,
        )
        .await
        .unwrap()
    else {
        panic!("a new address is pending and mailed")
    };
    assert_eq!(first.kind, Kind::Email);
    assert_eq!(first.target, "Anna@Example.org");
    assert!(first.confirmed_at.is_none());
    let key = first.confirm_key.expect("a confirmation key");
    // Again within ten minutes, in other case: same row, no mail, new choices.
    let Requested::Pending {
        subscription: again,
        mail: false,
    } = store
        .request_email(
            BLOG,
            "anna@example.ORG",
            &choices(&["ai"]),
            minutes(5),
            QUIET,
        )
        .await
        .unwrap()
    else {
        panic!("the same pending row, not mailed again")
    };
    assert_eq!(again.id, first.id);
    assert_eq!(again.choices.tags, vec!["ai"]);
    let Requested::Pending { mail: true, .. } = store
        .request_email(
            BLOG,
            "anna@example.org",
            &choices(&["ai"]),
            minutes(11),
            QUIET,
        )
        .await
        .unwrap()
    else {
        panic!("mailed again after ten minutes")
    };
    // Another blog is another list.
    let Requested::Pending {
        subscription: other,
        ..
    } = store
        .request_email(
            "other",
            "anna@example.org",
            &choices(&[]),
            minutes(0),
            QUIET,
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_ne!(other.id, first.id);

    assert_eq!(
        store
            .confirm(BLOG, first.id, key ^ 1, minutes(12))
            .await
            .unwrap(),
        Confirmed::Unknown
    );
    assert_eq!(
        store
            .confirm("other", first.id, key, minutes(12))
            .await
            .unwrap(),
        Confirmed::Unknown,
        "a token of one blog confirms nothing in another"
    );
    let Confirmed::Now(done) = store
        .confirm(BLOG, first.id, key, minutes(12))
        .await
        .unwrap()
    else {
        panic!("confirmed")
    };
    assert_eq!(done.confirmed_at, Some(minutes(12)));
    assert_eq!(
        store
            .confirm(BLOG, first.id, key, minutes(13))
            .await
            .unwrap(),
        Confirmed::AlreadyUsed
    );
    let listed = store.subscriptions(BLOG).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].confirmed_at, Some(minutes(12)));
    assert_eq!(listed[0].requested_at, minutes(11));
}

async fn a_confirmed_subscription_keeps_its_choices_against_a_new_request<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let store = store.as_store();
    let Requested::Pending { subscription, .. } = store
        .request_email(
            BLOG,
            "bob@example.org",
            &choices(&["api"]),
            minutes(0),
            QUIET,
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    let key = subscription.confirm_key.unwrap();
    store
        .confirm(BLOG, subscription.id, key, minutes(1))
        .await
        .unwrap();
    let Requested::Confirmed {
        subscription: same,
        mail,
    } = store
        .request_email(
            BLOG,
            "bob@example.org",
            &choices(&["other"]),
            minutes(30),
            QUIET,
        )
        .await
        .unwrap()
    else {
        panic!("confirmed stays confirmed")
    };
    assert!(mail, "the owner may get their manage link");
    assert_eq!(same.choices.tags, vec!["api"], "a stranger changed nothing");
    assert!(
        store
            .update_choices(BLOG, same.id, &choices(&["x"]))
            .await
            .unwrap()
    );
    let read = store.subscription(BLOG, same.id).await.unwrap().unwrap();
    assert_eq!(read.choices.tags, vec!["x"]);
    assert_eq!(read.manage_key, same.manage_key);
    assert!(
        store
            .subscription("other", same.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn leaving_erases_the_address_and_cancels_what_was_not_sent<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let state = store.as_store();
    let Requested::Pending { subscription, .. } = state
        .request_email(BLOG, "carol@example.org", &choices(&[]), minutes(0), QUIET)
        .await
        .unwrap()
    else {
        panic!()
    };
    let me = subscription.subscriber_id();
    let post = announcement(
        "hello",
        vec![
            delivery(&me, "email", None),
            delivery("alice", "email", None),
            delivery("bob", "email", None),
        ],
    );
    store.record(BLOG, minutes(1), &[], &[post]).await.unwrap();
    assert!(
        state
            .remove_subscription(BLOG, subscription.id)
            .await
            .unwrap()
    );
    assert!(
        !state
            .remove_subscription(BLOG, subscription.id)
            .await
            .unwrap(),
        "idempotent"
    );
    assert!(state.subscriptions(BLOG).await.unwrap().is_empty());
    // A subscriber of the definition leaves: remembered, its mail cancelled.
    assert!(state.opt_out(BLOG, "alice", minutes(2)).await.unwrap());
    assert!(!state.opt_out(BLOG, "alice", minutes(3)).await.unwrap());
    assert_eq!(state.opt_outs(BLOG).await.unwrap(), vec!["alice"]);
    let left: Vec<String> = store
        .open_deliveries(BLOG)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.subscriber)
        .collect();
    assert_eq!(left, vec!["bob"]);
}

async fn unconfirmed_sign_ups_are_purged_and_webhooks_are_unique_per_blog<S: TestStore>() {
    let (_keep, store) = S::fresh().await;
    let store = store.as_store();
    for (address, at) in [("old@example.org", 0), ("new@example.org", 60 * 24 * 6)] {
        store
            .request_email(BLOG, address, &choices(&[]), minutes(at), QUIET)
            .await
            .unwrap();
    }
    let purged = store
        .purge_unconfirmed(
            BLOG,
            minutes(60 * 24 * 7) - TimeDelta::days(7) + TimeDelta::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let left: Vec<String> = store
        .subscriptions(BLOG)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.target)
        .collect();
    assert_eq!(left, vec!["new@example.org"]);

    let hook = WebhookTarget {
        url: "https://chat.example.org/hook/1".into(),
        format: "slack".into(),
        secret: None,
        label: Some("team API".into()),
    };
    let made = store
        .add_confirmed(
            BLOG,
            Kind::Webhook,
            &hook.url,
            Some(&hook),
            &choices(&["api"]),
            minutes(1),
        )
        .await
        .unwrap()
        .expect("new");
    assert_eq!(made.webhook.as_ref(), Some(&hook));
    assert_eq!(made.confirmed_at, Some(minutes(1)));
    let twice = store
        .add_confirmed(
            BLOG,
            Kind::Webhook,
            &hook.url,
            Some(&hook),
            &choices(&[]),
            minutes(2),
        )
        .await
        .unwrap();
    assert!(twice.is_none(), "one blog, one subscription per URL");
}
