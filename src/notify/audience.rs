//! Who a run tells: the feed definition's subscribers, minus those who
//! unsubscribed through a link (their definition is the operator's file,
//! so their choice is kept in the state), plus the confirmed subscribers
//! of `postbode serve`. Pending sign-ups get nothing.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::BlogConfig;
use crate::config::subscribers::{Language, Subscriber};
use crate::state::{StateError, Store};

/// How long a sign-up waits for its confirmation before it is erased.
pub const UNCONFIRMED_KEPT: TimeDelta = TimeDelta::days(7);

pub async fn with_state(
    config: &BlogConfig,
    store: &Store,
    mut list: Vec<Subscriber>,
) -> Result<Vec<Subscriber>, StateError> {
    let left: HashSet<String> = store.opt_outs(&config.name).await?.into_iter().collect();
    list.retain(|s| !left.contains(&s.id));
    let language = Language::of_blog(config.language.as_deref());
    list.extend(
        store
            .subscriptions(&config.name)
            .await?
            .iter()
            .filter(|s| s.confirmed_at.is_some())
            .map(|s| s.to_subscriber(language)),
    );
    Ok(list)
}

/// Erases sign-ups not confirmed within [`UNCONFIRMED_KEPT`] (a run does it
/// as well as the service, so a blog served by no process still forgets).
pub async fn purge(
    config: &BlogConfig,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<u64, StateError> {
    if config.serve.is_none() {
        return Ok(0);
    }
    store
        .purge_unconfirmed(&config.name, now - UNCONFIRMED_KEPT)
        .await
}
