//! The outbox side of a run: turning a plan into delivery rows (one per
//! post, subscriber and channel, recorded with the posts in one transaction
//! so a rerun adds nothing), folding a digest subscriber's due rows into one
//! message, and recording what became of each send (sent, retry later with
//! backoff or the receiver's `Retry-After`, or dead). The row's id is the
//! message's identity on the wire (`Message-ID`, `webhook-id`), so a
//! receiver can drop the rare duplicate a crash can cause.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveTime, TimeDelta, TimeZone, Utc};
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;

use super::{Clock, NotifyError, Options, Payload, Progress, ProgressHook, SendError};
use super::{Summary, WouldSend};
use super::{blog_info, email, plan, snapshot};
use crate::config::BlogConfig;
use crate::config::subscribers::{Digest, Subscriber};
use crate::model::Post;
use crate::state::{self, Announcement, Claimed, NewDelivery, SeenPost, Settlement, Store};

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
    if first_run {
        summary.recorded_quietly = plan.seen.len().saturating_sub(plan.announce.len());
    }
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
    // Only what the state does not hold yet: recording every post again at
    // each run was a statement per post (10,000 for a large blog) that
    // changed nothing.
    let known: HashMap<&str, &SeenPost> = known.iter().map(|k| (k.key.as_str(), k)).collect();
    let seen = plan
        .seen
        .into_iter()
        .filter(|s| {
            known.get(s.key.as_str()).is_none_or(|k| {
                k.permalink != s.permalink || k.title != s.title || (s.announced && !k.announced)
            })
        })
        .collect();
    Ok(Planned {
        summary,
        seen,
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
        let merged = store
            .merge_into(
                due[0].id,
                &ids,
                &serde_json::to_string(&payload).unwrap_or_default(),
            )
            .await;
        match merged {
            // Another worker sharing the outbox (PostgreSQL) merged or
            // claimed some of these rows since they were read: nothing
            // changed here, and the next round merges what is left.
            Err(crate::state::StateError::Invalid { message, .. }) => {
                tracing::info!(blog = %config.name, subscriber = %sub.id, "digest left for the next round: {message}");
            }
            other => other?,
        }
    }
    Ok(())
}

/// What became of one claimed delivery.
pub enum SendOutcome {
    Sent,
    Failed(SendError),
    /// The subscriber is no longer configured.
    Orphan,
    /// Not sent, because the run is stopping: given back as if it had not
    /// been claimed (due at once, the attempt not counted).
    Abandoned,
}

/// What the send loop tells the [`Recorder`].
pub enum Record {
    /// `n` more deliveries were claimed (for the progress hook).
    Claimed(usize),
    /// One delivery's outcome. `slot` is the send slot the message went
    /// out on; it is given back only once the outcome is committed, so at
    /// any instant at most as many messages as there are slots are sent but
    /// not recorded: the most a crash can make a later run repeat.
    Done {
        claimed: Claimed,
        outcome: SendOutcome,
        slot: Option<OwnedSemaphorePermit>,
    },
}

/// Tells the send loop and its tasks to send nothing new: set by a stop
/// request (SIGTERM/SIGINT, `Options::stop`) or by the recorder when
/// outcomes cannot be written (a full disk), since sending on without
/// recording would only make a later run repeat more.
#[derive(Clone)]
pub struct Halt {
    stop: Option<Arc<AtomicBool>>,
    failed: Arc<AtomicBool>,
}

impl Halt {
    pub fn new(stop: Option<Arc<AtomicBool>>) -> Self {
        Halt {
            stop,
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn is_set(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
            || self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }

    pub(super) fn fail(&self) {
        self.failed.store(true, Ordering::SeqCst);
    }
}

/// Deliveries settled by a run, by how.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
}

/// Commit attempts for one group of outcomes before the run gives up.
const RECORD_TRIES: u32 = 5;
/// Wait before the second attempt; doubled for each one after.
const RECORD_RETRY_WAIT: Duration = Duration::from_millis(250);
/// Outcomes taken from the queue at most per commit.
const GROUP_MAX: usize = 4096;

/// Writes one group, trying again a few times (a disk may get space back);
/// the outcomes stay in memory meanwhile.
async fn commit(store: &Store, blog: &str, settle: &[Settlement]) -> Result<(), NotifyError> {
    let mut wait = RECORD_RETRY_WAIT;
    let mut tries = 1;
    loop {
        match store.settle(settle).await {
            Ok(()) => return Ok(()),
            Err(e) if tries < RECORD_TRIES => {
                tracing::warn!(blog, tries, "recording outcomes failed, trying again: {e}");
                tokio::time::sleep(wait).await;
                wait *= 2;
                tries += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Logs the sent deliveries of a group that could not be recorded, by id:
/// a later run sends them again.
fn log_unrecorded(blog: &str, settle: &[Settlement], e: &NotifyError) {
    let sent: Vec<i64> = settle
        .iter()
        .filter(|s| matches!(s, Settlement::Sent { .. }))
        .map(Settlement::id)
        .collect();
    tracing::error!(
        blog,
        unrecorded = ?sent,
        "cannot record what was sent, stopping: a later run sends these again: {e}"
    );
}

/// A commit task's result; a panicked one is an error like any other.
fn flatten(
    joined: Result<Result<(), NotifyError>, tokio::task::JoinError>,
) -> Result<(), NotifyError> {
    joined.unwrap_or_else(|e| Err(NotifyError::Recorder(e.to_string())))
}

/// The writer task of a run: records each outcome as soon as it is known,
/// with group commit: one transaction for everything that arrived while the
/// previous one was being written. One transaction per message would cost
/// more than the send; waiting for a batch (as before) let a crash repeat
/// hundreds of messages.
pub struct Recorder {
    store: Store,
    blog: String,
    max_age: TimeDelta,
    clock: Clock,
    hook: Option<ProgressHook>,
    now: DateTime<Utc>,
    counts: Counts,
    progress: Progress,
}

impl Recorder {
    pub fn new(store: Store, blog: &str, opts: &Options, now: DateTime<Utc>) -> Self {
        Recorder {
            store,
            blog: blog.to_string(),
            max_age: opts.max_age,
            clock: opts.clock,
            hook: opts.progress.clone(),
            now,
            counts: Counts::default(),
            progress: Progress::default(),
        }
    }

    /// Records what arrives on `queue` until every sender is gone. On a
    /// failure to record, sets `halt` (before any send slot is given back,
    /// so nothing new goes out) and returns the error; the sent deliveries
    /// it could not record are logged by id.
    ///
    /// One group is committed at a time, on both stores, while the next
    /// one gathers: the slower the commit, the larger the next group. On
    /// PostgreSQL a group of sent rows is one statement (one round trip);
    /// several groups at once only made them smaller and the server busier
    /// (`benches/workers.sh`, one worker: the server's CPU 10.7 s with four
    /// commits at once, 5.4 s with one, and the run 22 % faster).
    pub async fn run(
        mut self,
        mut queue: UnboundedReceiver<Record>,
        halt: Halt,
    ) -> Result<Counts, NotifyError> {
        let mut commits: JoinSet<Result<(), NotifyError>> = JoinSet::new();
        let mut failed: Option<NotifyError> = None;
        let mut group = Vec::new();
        while failed.is_none() {
            // A failed commit ends the loop at once, even while the senders
            // still hold the queue open.
            let n = tokio::select! {
                Some(joined) = commits.join_next() => {
                    failed = flatten(joined).err();
                    continue;
                }
                n = queue.recv_many(&mut group, GROUP_MAX) => n,
            };
            if n == 0 {
                break;
            }
            // Slots outlive the commit: see `Record::Done`.
            let mut slots = Vec::new();
            let mut settle = Vec::with_capacity(group.len());
            for record in group.drain(..) {
                match record {
                    Record::Claimed(n) => self.progress.total += n as u64,
                    Record::Done {
                        claimed,
                        outcome,
                        slot,
                    } => {
                        slots.extend(slot);
                        match self.settlement(&claimed, outcome).await {
                            Ok(s) => settle.push(s),
                            Err(e) => failed = failed.or(Some(e)),
                        }
                    }
                }
            }
            if let Some(e) = &failed {
                halt.fail();
                log_unrecorded(&self.blog, &settle, e);
                break;
            }
            while !commits.is_empty() {
                if let Some(Err(e)) = commits.join_next().await.map(flatten) {
                    failed = failed.or(Some(e));
                }
            }
            let (store, blog, halt) = (self.store.clone(), self.blog.clone(), halt.clone());
            let done = settle.len() as u64;
            commits.spawn(async move {
                let result = commit(&store, &blog, &settle).await;
                if let Err(e) = &result {
                    // Before the slots go: nothing new is sent.
                    halt.fail();
                    log_unrecorded(&blog, &settle, e);
                }
                drop(slots);
                result
            });
            // Counted once handed to a commit: the hook drives a progress
            // bar, not a record.
            self.progress.done += done;
            if let Some(hook) = &self.hook {
                hook.report(self.progress);
            }
        }
        while let Some(result) = commits.join_next().await.map(flatten) {
            if let Err(e) = result {
                failed = failed.or(Some(e));
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(self.counts),
        }
    }

    /// How `outcome` is recorded, counted in the summary.
    async fn settlement(
        &mut self,
        claimed: &Claimed,
        outcome: SendOutcome,
    ) -> Result<Settlement, NotifyError> {
        let now = self.now;
        let done = self.clock.now().max(now);
        let id = claimed.id;
        Ok(match outcome {
            SendOutcome::Sent => {
                self.counts.sent += 1;
                Settlement::Sent { id, at: done }
            }
            SendOutcome::Abandoned => Settlement::Released { id },
            SendOutcome::Orphan => {
                self.counts.dead += 1;
                Settlement::Failed {
                    id,
                    at: done,
                    error: "the subscriber is no longer in the feed definition".into(),
                    next_attempt_at: None,
                    dead: true,
                }
            }
            SendOutcome::Failed(err) => {
                let mut reason = err.to_string();
                let next = match &err {
                    SendError::Transient { retry_after, .. } => {
                        let (next, note) = next_attempt(
                            now,
                            claimed
                                .created_at
                                .checked_add_signed(self.max_age)
                                .unwrap_or(DateTime::<Utc>::MAX_UTC),
                            *retry_after,
                            claimed.attempts,
                        );
                        reason.push_str(note);
                        next
                    }
                    SendError::Permanent { .. } => None,
                    SendError::Gone { .. } => {
                        self.store
                            .disable_subscriber(&self.blog, &claimed.subscriber, done, &reason)
                            .await?;
                        None
                    }
                };
                let dead = next.is_none();
                tracing::warn!(
                    blog = %self.blog,
                    delivery = id,
                    subscriber = %claimed.subscriber,
                    dead,
                    "send failed: {reason}"
                );
                if dead {
                    self.counts.dead += 1;
                } else {
                    self.counts.retrying += 1;
                }
                Settlement::Failed {
                    id,
                    at: done,
                    error: reason,
                    next_attempt_at: next,
                    dead,
                }
            }
        })
    }
}

/// When a transient failure at `now` is tried again, or `None` (dead) once
/// the delivery reached `deadline` (created + max age). The receiver's
/// `Retry-After` (else the backoff) is honoured up to the deadline: a wait
/// past it (a far-future date) is cut to one last try at the deadline,
/// rather than parking the delivery for years. The note says so, for
/// `status`.
fn next_attempt(
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
    retry_after: Option<std::time::Duration>,
    attempts: u32,
) -> (Option<DateTime<Utc>>, &'static str) {
    if now >= deadline {
        return (None, "");
    }
    let wait = retry_after.unwrap_or_else(|| state::backoff(attempts));
    let next = state::after(now, wait);
    if next > deadline {
        let note = if retry_after.is_some() {
            " (Retry-After lies past the delivery's max age: one last try then)"
        } else {
            ""
        };
        (Some(deadline), note)
    } else {
        (Some(next), "")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(hour: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 7, 16, hour, min, 0).unwrap()
    }

    #[test]
    fn a_wait_past_the_max_age_is_cut_to_one_last_try_at_the_max_age() {
        let secs = std::time::Duration::from_secs;
        let deadline = at(3, 0);
        for (now, retry_after, expected, noted) in [
            // The receiver's wish, within the max age.
            (at(0, 0), Some(secs(600)), Some(at(0, 10)), false),
            // 74 years: one last try at the max age, and `status` says why.
            (
                at(0, 0),
                Some(secs(74 * 365 * 86_400)),
                Some(deadline),
                true,
            ),
            // Past the end of time as chrono knows it: the same.
            (
                at(0, 0),
                Some(std::time::Duration::MAX),
                Some(deadline),
                true,
            ),
            // The last try failed too: dead.
            (deadline, Some(secs(1)), None, false),
            (at(4, 0), None, None, false),
        ] {
            let (next, note) = next_attempt(now, deadline, retry_after, 1);
            assert_eq!(next, expected, "{now} {retry_after:?}");
            assert_eq!(!note.is_empty(), noted, "{now} {retry_after:?}");
        }
        // The backoff is cut the same way, without a note.
        let (next, note) = next_attempt(at(2, 59), deadline, None, 12);
        assert_eq!((next, note), (Some(deadline), ""));
    }

    #[tokio::test]
    async fn a_recorder_that_cannot_write_stops_the_run_and_keeps_its_send_slots_until_then() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db").into())
            .await
            .unwrap();
        // A closed pool fails every write, as a full disk does.
        store.close().await;
        let halt = Halt::new(None);
        let (queue, inbox) = tokio::sync::mpsc::unbounded_channel();
        let recorder = Recorder::new(store, "b", &Options::default(), at(0, 0));
        let writer = tokio::spawn(recorder.run(inbox, halt.clone()));
        let slots = Arc::new(tokio::sync::Semaphore::new(1));
        let slot = slots.clone().acquire_owned().await.unwrap();
        let claimed = Claimed {
            id: 1,
            subscriber: "s".into(),
            channel: "webhook".into(),
            payload: String::new(),
            attempts: 1,
            created_at: at(0, 0),
            hold_until: None,
        };
        queue
            .send(Record::Done {
                claimed,
                outcome: SendOutcome::Sent,
                slot: Some(slot),
            })
            .unwrap_or_else(|_| panic!("the recorder is listening"));
        // While it tries again, the slot stays taken: nothing new is sent.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(slots.available_permits(), 0);
        assert!(!halt.is_set());
        let result = writer.await.unwrap();
        assert!(result.is_err(), "a failed write is an error");
        assert!(halt.is_set(), "and stops the run");
        assert_eq!(slots.available_permits(), 1);
    }
}
