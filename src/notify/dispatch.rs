//! The send loop: claims due deliveries in batches, builds each message and
//! sends it, by email over a few reused SMTP connections shared by the send
//! tasks, and by webhook with a bound on requests in flight overall and per
//! receiving host. Sending never holds a database transaction open; each
//! outcome goes to the recorder task (`outbox::Recorder`) as soon as it is
//! known, and a send slot is only given back once its outcome is committed,
//! so a crash repeats at most the messages on the wire at that instant (4
//! emails, `webhook_concurrency` webhooks). A crash leaves leased rows that
//! the next run takes over at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::email::{self, Mailer};
use super::outbox::{Halt, Record, Recorder, SendOutcome, message_id};
use super::webhook::{self, WebhookClient};
use super::{
    BlogInfo, ConnectFailure, NotifyError, Options, Payload, SendError, Summary, blog_info,
};
use crate::config::BlogConfig;
use crate::config::subscribers::{EmailConfig, Subscriber, Target};
use crate::state::{Claimed, RunGuard, Store};
use crate::templates::Templates;

/// SMTP connections used at once: one connection spends most of its time
/// waiting for the server's replies (MAIL, RCPT, DATA, end of data).
const SMTP_CONNECTIONS: usize = 4;
/// Built emails waiting for a connection at most, so memory stays flat.
/// Only `SMTP_CONNECTIONS` of them are on the wire at once (see
/// `Record::Done`): the most a crash can repeat.
const EMAILS_IN_FLIGHT: usize = SMTP_CONNECTIONS * 8;
/// Rows claimed at once. Claiming ahead of sending costs nothing after a
/// crash: the next run (or, on PostgreSQL, any other worker) takes over
/// every row still `sending` under a dead run at once, lease or not.
const BATCH: usize = 2500;
/// Rows claimed at once where workers share the outbox (PostgreSQL): small
/// enough that a burst is spread over every worker rather than taken whole
/// by the first, large enough that claiming stays cheap.
const SHARED_BATCH: usize = 1000;
/// How long a claim holds a row before another run may take it over, should
/// this one stop renewing it (its machine gone without a word). Renewed every
/// `RENEW_EVERY` while the batch is sent.
const LEASE: Duration = Duration::from_secs(60);
const RENEW_EVERY: Duration = Duration::from_secs(15);

/// Everything the send tasks need that does not change while they send.
pub struct Context {
    pub blog: BlogInfo,
    pub templates: Templates,
    pub subscribers: HashMap<String, Subscriber>,
    /// The manage and unsubscribe links of `[serve]`.
    pub links: Option<email::Links>,
}

impl Context {
    pub fn new(
        config: &BlogConfig,
        templates: Templates,
        subscribers: Vec<Subscriber>,
        links: Option<email::Links>,
    ) -> Self {
        Context {
            blog: blog_info(config),
            templates,
            subscribers: subscribers.into_iter().map(|s| (s.id.clone(), s)).collect(),
            links,
        }
    }
}

const SERVER_DOWN: &str = "the mail server could not be reached earlier in this run";

fn server_down() -> SendError {
    SendError::Transient {
        reason: SERVER_DOWN.into(),
        retry_after: None,
    }
}

fn no_email_section() -> SendError {
    SendError::Permanent {
        reason: "no [email] section in the feed definition".into(),
    }
}

/// Up to `SMTP_CONNECTIONS` reused SMTP connections shared by the send
/// tasks of a run (or the file outbox, which needs no connection).
struct MailerPool {
    config: Option<EmailConfig>,
    ca_file: Option<std::path::PathBuf>,
    idle: Mutex<Vec<Mailer>>,
    connections: Semaphore,
    /// Once the mail server cannot be reached (or refuses our login), the
    /// other email deliveries of this run are not tried: each is scheduled
    /// for a later run, so one unreachable server costs one timeout, not one
    /// per message.
    down: AtomicBool,
    /// The first connection failure, for the run's exit code.
    failure: std::sync::Mutex<Option<ConnectFailure>>,
}

impl MailerPool {
    fn new(config: Option<EmailConfig>, ca_file: Option<std::path::PathBuf>) -> Self {
        MailerPool {
            config,
            ca_file,
            idle: Mutex::new(Vec::new()),
            connections: Semaphore::new(SMTP_CONNECTIONS),
            down: AtomicBool::new(false),
            failure: std::sync::Mutex::new(None),
        }
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    async fn send(&self, msg: &lettre::Message, to: &str) -> Result<(), SendError> {
        let _permit = self.connections.acquire().await;
        if self.is_down() {
            return Err(server_down());
        }
        let idle = self.idle.lock().await.pop();
        let mut mailer = match idle {
            Some(m) => m,
            None => {
                let Some(cfg) = &self.config else {
                    return Err(no_email_section());
                };
                let env = |k: &str| std::env::var(k).ok();
                match Mailer::connect_with(cfg, &env, self.ca_file.as_deref()).await {
                    Ok(m) => m,
                    Err(e) => {
                        self.down.store(true, Ordering::SeqCst);
                        if let Ok(mut first) = self.failure.lock() {
                            first.get_or_insert(ConnectFailure {
                                reason: e.to_string(),
                                permanent: matches!(e, SendError::Permanent { .. }),
                            });
                        }
                        return Err(SendError::Transient {
                            reason: format!("cannot connect to the mail server: {e}"),
                            retry_after: None,
                        });
                    }
                }
            }
        };
        let result = mailer.send(msg, to).await;
        self.idle.lock().await.push(mailer);
        result
    }

    fn failure(&self) -> Option<ConnectFailure> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    async fn close(&self) {
        let mailers = std::mem::take(&mut *self.idle.lock().await);
        for m in mailers {
            m.close().await;
        }
    }
}

/// Claims and sends every due delivery, each outcome recorded as soon as
/// it is known (by the [`Recorder`] task), until none is due or the run is
/// told to stop (`opts.stop`, checked before each message, not only between
/// batches): then nothing new is sent, what is on the wire is finished and
/// recorded, and the rest of the claimed rows are given back.
pub async fn send_due(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &Options,
    store: &Store,
    guard: &RunGuard,
    cx: &Context,
    summary: &mut Summary,
) -> Result<(), NotifyError> {
    let client = WebhookClient::new(opts.webhook_timeout, webhook::MAX_REDIRECTS)
        .map_err(|e| NotifyError::Config(e.to_string()))?;
    let halt = Halt::new(opts.stop.clone());
    let (queue, inbox) = mpsc::unbounded_channel();
    let recorder = Recorder::new(store.clone(), &config.name, opts, now);
    let writer = tokio::spawn(recorder.run(inbox, halt.clone()));
    let mailers = Arc::new(MailerPool::new(
        config.email.clone(),
        opts.smtp_ca_file.clone(),
    ));
    let senders = Senders {
        mailers: mailers.clone(),
        email_slots: Arc::new(Semaphore::new(SMTP_CONNECTIONS)),
        email_queue: Arc::new(Semaphore::new(EMAILS_IN_FLIGHT)),
        client: Arc::new(client),
        webhook_slots: Arc::new(Semaphore::new(opts.webhook_concurrency.max(1))),
        per_host: HashMap::new(),
        halt,
        queue,
    };
    let sent = claim_and_send(config, now, opts, store, guard, cx, senders).await;
    // `claim_and_send` dropped the last sender: the writer ends once it has
    // recorded everything.
    let written = writer
        .await
        .map_err(|e| NotifyError::Recorder(e.to_string()))?;
    mailers.close().await;
    let counts = written?;
    summary.sent += counts.sent;
    summary.retrying += counts.retrying;
    summary.dead += counts.dead;
    summary.mail_server = mailers.failure();
    sent
}

/// What the send tasks share. A send slot (`email_slots`, `webhook_slots`)
/// is held from before a message goes out until its outcome is committed:
/// see `Record::Done`.
struct Senders {
    mailers: Arc<MailerPool>,
    email_slots: Arc<Semaphore>,
    /// Built emails waiting for a slot.
    email_queue: Arc<Semaphore>,
    client: Arc<WebhookClient>,
    webhook_slots: Arc<Semaphore>,
    per_host: HashMap<String, Arc<Semaphore>>,
    halt: Halt,
    queue: UnboundedSender<Record>,
}

impl Senders {
    /// Hands an outcome to the recorder. Should the recorder have stopped
    /// (it could not write), a sent message is logged by id: a later run
    /// sends it again.
    fn done(&self, claimed: Claimed, outcome: SendOutcome, slot: Option<OwnedSemaphorePermit>) {
        done(&self.queue, claimed, outcome, slot);
    }
}

fn done(
    queue: &UnboundedSender<Record>,
    claimed: Claimed,
    outcome: SendOutcome,
    slot: Option<OwnedSemaphorePermit>,
) {
    let (id, sent) = (claimed.id, matches!(outcome, SendOutcome::Sent));
    let record = Record::Done {
        claimed,
        outcome,
        slot,
    };
    if queue.send(record).is_err() && sent {
        tracing::error!(
            delivery = id,
            "sent, but the outcome cannot be recorded: a later run sends it again"
        );
    }
}

async fn claim_and_send(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &Options,
    store: &Store,
    guard: &RunGuard,
    cx: &Context,
    mut senders: Senders,
) -> Result<(), NotifyError> {
    let batch_size = if store.shares_runs() {
        SHARED_BATCH
    } else {
        BATCH
    };
    let mut tasks = JoinSet::new();
    let mut keeper = LeaseKeeper::new(store, guard, opts);
    let claimed: Result<(), NotifyError> = async {
        loop {
            if senders.halt.is_set() {
                tracing::info!(blog = %config.name, "stopping: claiming no more deliveries");
                return Ok(());
            }
            store.heartbeat(guard, opts.clock.now(), LEASE).await?;
            let t0 = std::time::Instant::now();
            // Due as of the run's `now` (a digest merged at `now` must not
            // be split by a row that comes due later in the run), leased
            // until LEASE from the clock's present: other workers judge the
            // lease by their own present.
            let lease = LEASE + (opts.clock.now() - now).to_std().unwrap_or_default();
            let batch = store
                .claim_due(&config.name, guard, now, lease, batch_size)
                .await?;
            tracing::debug!(elapsed = ?t0.elapsed(), n = batch.len(), "claimed");
            // A closed queue means the recorder failed; `halt` says so above.
            let _ = senders.queue.send(Record::Claimed(batch.len()));
            if batch.is_empty() {
                return Ok(());
            }
            for claimed in batch {
                send_one(config, now, opts, cx, &mut senders, &mut tasks, claimed).await;
            }
            tracing::debug!(elapsed = ?t0.elapsed(), "prepared");
            // The next batch is claimed while the tail of this one is on
            // the wire, so the senders never wait for a claim.
            keeper
                .drain(&mut tasks, batch_size / 2, &senders.halt)
                .await?;
        }
    }
    .await;
    // However the loop ended, what was started finishes and is recorded.
    let drained = keeper.drain(&mut tasks, 0, &senders.halt).await;
    claimed.and(drained.map_err(Into::into))
}

/// Keeps a run's leases alive while its sends are on the wire: every
/// `RENEW_EVERY`, a heartbeat renews them.
struct LeaseKeeper<'a> {
    store: &'a Store,
    guard: &'a RunGuard,
    opts: &'a Options,
    renew: tokio::time::Interval,
    lost: Option<crate::state::StateError>,
}

impl<'a> LeaseKeeper<'a> {
    fn new(store: &'a Store, guard: &'a RunGuard, opts: &'a Options) -> Self {
        let mut renew =
            tokio::time::interval_at(tokio::time::Instant::now() + RENEW_EVERY, RENEW_EVERY);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        LeaseKeeper {
            store,
            guard,
            opts,
            renew,
            lost: None,
        }
    }

    /// Waits until at most `left` sends are still running. A task that
    /// panicked leaves its row `sending`; the next run takes it over. A
    /// lost lock (or database) stops what has not started – what is on the
    /// wire finishes and is recorded – and is the error returned.
    async fn drain(
        &mut self,
        tasks: &mut JoinSet<()>,
        left: usize,
        halt: &Halt,
    ) -> Result<(), crate::state::StateError> {
        while tasks.len() > left {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = self.renew.tick(), if self.lost.is_none() => {
                    let now = self.opts.clock.now();
                    if let Err(e) = self.store.heartbeat(self.guard, now, LEASE).await {
                        halt.fail();
                        self.lost = Some(e);
                    }
                }
            }
        }
        self.lost.take().map_or(Ok(()), Err)
    }
}

/// Starts sending one claimed delivery (or settles it at once when it
/// cannot be sent, or the run is stopping).
async fn send_one(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &Options,
    cx: &Context,
    senders: &mut Senders,
    tasks: &mut JoinSet<()>,
    claimed: Claimed,
) {
    if senders.halt.is_set() {
        senders.done(claimed, SendOutcome::Abandoned, None);
        return;
    }
    let (sub, payload) = match check(&claimed, cx, opts) {
        Ok(ready) => ready,
        Err(outcome) => {
            senders.done(claimed, outcome, None);
            return;
        }
    };
    let id = message_id(config, claimed.id);
    match &sub.target {
        Target::Email { address } => {
            let Some(email_cfg) = &config.email else {
                senders.done(claimed, SendOutcome::Failed(no_email_section()), None);
                return;
            };
            let built = email::build_message(
                email_cfg,
                &cx.templates,
                &payload,
                sub,
                &id,
                now,
                cx.links.as_ref(),
            );
            let msg = match built {
                Err(e) => {
                    let err = SendError::Permanent {
                        reason: e.to_string(),
                    };
                    senders.done(claimed, SendOutcome::Failed(err), None);
                    return;
                }
                // Not given back (`release`): it would be claimed again at
                // once by this very loop.
                Ok(_) if senders.mailers.is_down() => {
                    senders.done(claimed, SendOutcome::Failed(server_down()), None);
                    return;
                }
                Ok(msg) => msg,
            };
            // Bounded: a built message waits for a slot only while few
            // others do, so memory stays flat.
            let queued = senders.email_queue.clone().acquire_owned().await.ok();
            let (slots, mailers) = (senders.email_slots.clone(), senders.mailers.clone());
            let (halt, queue, to) = (senders.halt.clone(), senders.queue.clone(), address.clone());
            tasks.spawn(async move {
                let slot = slots.acquire_owned().await.ok();
                let outcome = if halt.is_set() {
                    SendOutcome::Abandoned
                } else {
                    match mailers.send(&msg, &to).await {
                        Ok(()) => SendOutcome::Sent,
                        Err(e) => SendOutcome::Failed(e),
                    }
                };
                drop(queued);
                done(&queue, claimed, outcome, slot);
            });
        }
        Target::Webhook {
            url,
            format,
            secret,
            ..
        } => {
            let req = match webhook::prepare_in(
                sub.language,
                &payload,
                *format,
                url,
                secret.as_ref(),
                &cx.templates,
                &id,
                opts.clock.now(),
            ) {
                Ok(r) => r,
                Err(e) => {
                    let err = SendError::Permanent {
                        reason: e.to_string(),
                    };
                    senders.done(claimed, SendOutcome::Failed(err), None);
                    return;
                }
            };
            let host = senders
                .per_host
                .entry(webhook::host_key(url))
                .or_insert_with(|| Arc::new(Semaphore::new(opts.per_host_concurrency.max(1))))
                .clone();
            let (slots, client) = (senders.webhook_slots.clone(), senders.client.clone());
            let (halt, queue, clock) = (senders.halt.clone(), senders.queue.clone(), opts.clock);
            tasks.spawn(async move {
                let slot = slots.acquire_owned().await.ok();
                let outcome = if halt.is_set() {
                    SendOutcome::Abandoned
                } else {
                    let _host = host.acquire_owned().await;
                    match client.send_at(&req, clock.now()).await {
                        Ok(()) => SendOutcome::Sent,
                        Err(e) => SendOutcome::Failed(e),
                    }
                };
                done(&queue, claimed, outcome, slot);
            });
        }
    }
}

/// The subscriber and payload of a claimed row, or why it cannot be sent.
fn check<'c>(
    claimed: &Claimed,
    cx: &'c Context,
    opts: &Options,
) -> Result<(&'c Subscriber, Payload), SendOutcome> {
    // A row that keeps coming back (the process died while sending it, again
    // and again) is given up rather than retried forever.
    if claimed.attempts > opts.max_attempts {
        return Err(SendOutcome::Failed(SendError::Permanent {
            reason: format!("gave up after {} attempts", claimed.attempts - 1),
        }));
    }
    let Some(sub) = cx.subscribers.get(&claimed.subscriber) else {
        return Err(SendOutcome::Orphan);
    };
    serde_json::from_str(&claimed.payload)
        .map(|payload| (sub, payload))
        .map_err(|e| {
            SendOutcome::Failed(SendError::Permanent {
                reason: format!("stored payload unreadable: {e}"),
            })
        })
}
