//! The outbox side of a run: turning a plan into delivery rows (one per
//! post, subscriber and channel, recorded with the posts in one transaction
//! so a rerun adds nothing), folding a digest subscriber's due rows into one
//! message, and recording what became of each send (sent, retry later with
//! backoff or the receiver's `Retry-After`, or dead). The row's id is the
//! message's identity on the wire (`Message-ID`, `webhook-id`), so a
//! receiver can drop the rare duplicate a crash can cause.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveTime, TimeDelta, TimeZone, Utc};

use super::{NotifyError, Options, Payload, Progress, SendError, Summary, WouldSend};
use super::{blog_info, email, plan, snapshot};
use crate::config::BlogConfig;
use crate::config::subscribers::{Digest, Subscriber};
use crate::model::Post;
use crate::state::{self, Announcement, Claimed, NewDelivery, SeenPost, Store};

/// A plan turned into what the state records, and the summary so far.
pub struct Planned {
    pub summary: Summary,
    pub seen: Vec<SeenPost>,
    pub announcements: Vec<Announcement>,
}

/// Plans a run against what `store` remembers (`None`: no state yet, a
/// first run). Reads only; a dry run stops here.
pub async fn plan_run(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &Options,
    store: Option<&Store>,
    posts: &[Post],
    subscribers: &[Subscriber],
) -> Result<Planned, NotifyError> {
    let (first_run, known, disabled) = match store {
        Some(store) => {
            let disabled: Vec<String> = store
                .disabled_subscribers(&config.name)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            (
                !store.has_history(&config.name).await?,
                store.seen_posts(&config.name).await?,
                disabled,
            )
        }
        None => (true, Vec::new(), Vec::new()),
    };
    let plan = plan::plan(
        posts,
        now,
        &known,
        first_run,
        opts.backfill_since,
        subscribers,
        &disabled,
    );
    let info = blog_info(config);
    let mut summary = Summary {
        blog: config.name.clone(),
        first_run,
        dry_run: opts.dry_run,
        ..Summary::default()
    };
    let by_id: HashMap<&str, &Subscriber> =
        subscribers.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut announcements = Vec::new();
    for a in &plan.announce {
        let post = &posts[a.post];
        summary.new_posts.push(post.url.clone());
        let payload = Payload {
            blog: info.clone(),
            posts: vec![snapshot(config, post)],
        };
        let payload_json = serde_json::to_string(&payload).unwrap_or_default();
        let deliveries: Vec<NewDelivery> = a
            .subscribers
            .iter()
            .filter_map(|id| by_id.get(id.as_str()))
            .map(|s| NewDelivery {
                subscriber: s.id.clone(),
                channel: s.target.channel().to_string(),
                payload: payload_json.clone(),
                hold_until: digest_due(s.digest, now, config.timezone),
            })
            .collect();
        summary.planned += deliveries.len();
        if opts.dry_run {
            summary
                .would_send
                .extend(deliveries.iter().map(|d| WouldSend {
                    post_url: post.url.clone(),
                    subscriber: d.subscriber.clone(),
                    channel: d.channel.clone(),
                }));
        }
        announcements.push(Announcement {
            key: a.key.clone(),
            permalink: post.permalink.clone(),
            title: post.title.clone(),
            published_at: post.date,
            deliveries,
        });
    }
    Ok(Planned {
        summary,
        seen: plan.seen,
        announcements,
    })
}

/// When a digest period that contains `now` ends, in the blog's zone: the
/// next midnight (daily) or the next Monday midnight (weekly).
pub fn digest_due(digest: Digest, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let days = match digest {
        Digest::None => return None,
        Digest::Daily => 1,
        Digest::Weekly => {
            let local = now.with_timezone(&tz);
            7 - i64::from(local.weekday().num_days_from_monday())
        }
    };
    let local_date = now.with_timezone(&tz).date_naive() + TimeDelta::days(days);
    tz.from_local_datetime(&local_date.and_time(NaiveTime::MIN))
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

/// The identity on the wire of delivery `delivery_id`: the email
/// `Message-ID` (without `<>`) and the `webhook-id`.
pub fn message_id(config: &BlogConfig, delivery_id: i64) -> String {
    match &config.email {
        Some(e) => email::message_id(&config.name, delivery_id, &e.from),
        None => format!("postbode.{}.{delivery_id}", config.name),
    }
}

/// Folds each digest subscriber's due held deliveries into one message.
pub async fn merge_digests(
    config: &BlogConfig,
    store: &Store,
    blog: &super::BlogInfo,
    subscribers: &HashMap<String, Subscriber>,
    now: DateTime<Utc>,
) -> Result<(), NotifyError> {
    for sub in subscribers.values().filter(|s| s.digest != Digest::None) {
        let held = store.held_for(&config.name, &sub.id).await?;
        let due: Vec<&Claimed> = held
            .iter()
            .filter(|c| c.hold_until.is_none_or(|h| h <= now))
            .collect();
        if due.len() < 2 {
            continue;
        }
        let mut posts = Vec::new();
        for c in &due {
            if let Ok(p) = serde_json::from_str::<Payload>(&c.payload) {
                posts.extend(p.posts);
            }
        }
        posts.sort_by_key(|p| std::cmp::Reverse(p.date));
        let payload = Payload {
            blog: blog.clone(),
            posts,
        };
        let ids: Vec<i64> = due[1..].iter().map(|c| c.id).collect();
        store
            .merge_into(
                due[0].id,
                &ids,
                &serde_json::to_string(&payload).unwrap_or_default(),
            )
            .await?;
    }
    Ok(())
}

/// What became of one claimed delivery.
pub enum SendOutcome {
    Sent,
    Failed(SendError),
    /// The subscriber is no longer configured.
    Orphan,
}

/// Stores what happened to each delivery of a run and counts it.
pub struct Recorder<'a> {
    store: &'a Store,
    config: &'a BlogConfig,
    opts: &'a Options,
    now: DateTime<Utc>,
    summary: &'a mut Summary,
    /// Sent ids not yet written: written in batches by `flush_sent`, as one
    /// transaction per message would cost more than the send.
    sent: Vec<i64>,
    progress: Progress,
}

impl<'a> Recorder<'a> {
    pub fn new(
        store: &'a Store,
        config: &'a BlogConfig,
        opts: &'a Options,
        now: DateTime<Utc>,
        summary: &'a mut Summary,
    ) -> Self {
        Recorder {
            store,
            config,
            opts,
            now,
            summary,
            sent: Vec::new(),
            progress: Progress::default(),
        }
    }

    /// `n` more deliveries were claimed.
    pub fn claimed(&mut self, n: usize) {
        self.progress.total += n as u64;
        self.report();
    }

    fn report(&self) {
        if let Some(hook) = &self.opts.progress {
            hook.report(self.progress);
        }
    }

    /// How many sent deliveries wait to be written.
    pub fn unwritten(&self) -> usize {
        self.sent.len()
    }

    /// Writes the sent deliveries recorded so far.
    pub async fn flush_sent(&mut self) -> Result<(), NotifyError> {
        let ids = std::mem::take(&mut self.sent);
        self.store.mark_sent_many(&ids, Utc::now()).await?;
        Ok(())
    }

    pub async fn record(
        &mut self,
        claimed: &Claimed,
        outcome: SendOutcome,
    ) -> Result<(), NotifyError> {
        let (store, config, now) = (self.store, self.config, self.now);
        self.progress.done += 1;
        self.report();
        let done = Utc::now().max(now);
        match outcome {
            SendOutcome::Sent => {
                self.sent.push(claimed.id);
                self.summary.sent += 1;
            }
            SendOutcome::Orphan => {
                store
                    .mark_failed(
                        claimed.id,
                        done,
                        "the subscriber is no longer in the feed definition",
                        None,
                        true,
                    )
                    .await?;
                self.summary.dead += 1;
            }
            SendOutcome::Failed(err) => {
                let reason = err.to_string();
                let (dead, next) = match &err {
                    SendError::Transient { retry_after, .. } => {
                        let wait = retry_after.unwrap_or_else(|| state::backoff(claimed.attempts));
                        let next = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(1));
                        (now - claimed.created_at > self.opts.max_age, Some(next))
                    }
                    SendError::Permanent { .. } => (true, None),
                    SendError::Gone { .. } => {
                        store
                            .disable_subscriber(&config.name, &claimed.subscriber, done, &reason)
                            .await?;
                        (true, None)
                    }
                };
                tracing::warn!(
                    blog = %config.name,
                    delivery = claimed.id,
                    subscriber = %claimed.subscriber,
                    dead,
                    "send failed: {reason}"
                );
                let next = if dead { None } else { next };
                store
                    .mark_failed(claimed.id, done, &reason, next, dead)
                    .await?;
                if dead {
                    self.summary.dead += 1;
                } else {
                    self.summary.retrying += 1;
                }
            }
        }
        Ok(())
    }
}
