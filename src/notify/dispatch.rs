//! The send loop: claims due deliveries in batches, builds each message and
//! sends it, by email over a few reused SMTP connections shared by the send
//! tasks, and by webhook with a bound on requests in flight overall and per
//! receiving host. Sending never holds a database transaction open; a crash
//! leaves leased rows that the next run takes over.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, Semaphore};

use super::email::{self, Mailer};
use super::outbox::{Recorder, SendOutcome, message_id};
use super::webhook::{self, WebhookClient};
use super::{BlogInfo, NotifyError, Options, Payload, SendError, Summary, blog_info};
use crate::config::BlogConfig;
use crate::config::subscribers::{EmailConfig, Subscriber, Target};
use crate::state::{Claimed, RunGuard, Store};
use crate::templates::Templates;

/// SMTP connections used at once: one connection spends most of its time
/// waiting for the server's replies (MAIL, RCPT, DATA, end of data).
const SMTP_CONNECTIONS: usize = 4;
/// Built emails waiting for a connection at most, so memory stays flat.
const EMAILS_IN_FLIGHT: usize = SMTP_CONNECTIONS * 8;
/// Rows claimed at once.
const BATCH: usize = 2500;
/// How long a claim holds a row before another run may take it over.
const LEASE: Duration = Duration::from_secs(300);
/// Sent rows written at once (`mark_sent_many`).
const SENT_BATCH: usize = 256;

/// Everything the send tasks need that does not change while they send.
pub struct Context {
    pub blog: BlogInfo,
    pub templates: Templates,
    pub subscribers: HashMap<String, Subscriber>,
}

impl Context {
    pub fn new(config: &BlogConfig, templates: Templates, subscribers: Vec<Subscriber>) -> Self {
        Context {
            blog: blog_info(config),
            templates,
            subscribers: subscribers.into_iter().map(|s| (s.id.clone(), s)).collect(),
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
}

impl MailerPool {
    fn new(config: Option<EmailConfig>, ca_file: Option<std::path::PathBuf>) -> Self {
        MailerPool {
            config,
            ca_file,
            idle: Mutex::new(Vec::new()),
            connections: Semaphore::new(SMTP_CONNECTIONS),
            down: AtomicBool::new(false),
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

    async fn close(&self) {
        let mailers = std::mem::take(&mut *self.idle.lock().await);
        for m in mailers {
            m.close().await;
        }
    }
}

/// Claims and sends every due delivery, recording each outcome, until none
/// is due or `opts.stop` is set.
pub async fn send_due(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &Options,
    store: &Store,
    guard: &RunGuard,
    cx: &Context,
    summary: &mut Summary,
) -> Result<(), NotifyError> {
    let email_slots = Arc::new(Semaphore::new(EMAILS_IN_FLIGHT));
    let mailers = Arc::new(MailerPool::new(
        config.email.clone(),
        opts.smtp_ca_file.clone(),
    ));
    let client = WebhookClient::new(opts.webhook_timeout, 5)
        .map_err(|e| NotifyError::Config(e.to_string()))?;
    let client = Arc::new(client);
    let global = Arc::new(Semaphore::new(opts.webhook_concurrency.max(1)));
    let mut per_host: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut rec = Recorder::new(store, config, opts, now, summary);
    loop {
        // On shutdown nothing new is claimed; what was claimed has been
        // sent and recorded by now (each batch is finished before the next).
        if opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            tracing::info!(blog = %config.name, "stop requested: claiming no more deliveries");
            break;
        }
        store.heartbeat(guard, Utc::now()).await?;
        let t0 = std::time::Instant::now();
        let batch = store
            .claim_due(&config.name, guard, now, LEASE, BATCH)
            .await?;
        tracing::debug!(elapsed = ?t0.elapsed(), n = batch.len(), "claimed");
        rec.claimed(batch.len());
        if batch.is_empty() {
            break;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for claimed in batch {
            let (sub, payload) = match check(&claimed, cx, opts) {
                Ok(ready) => ready,
                Err(outcome) => {
                    rec.record(&claimed, outcome).await?;
                    continue;
                }
            };
            let id = message_id(config, claimed.id);
            match &sub.target {
                Target::Email { address } => {
                    let Some(email_cfg) = &config.email else {
                        rec.record(&claimed, SendOutcome::Failed(no_email_section()))
                            .await?;
                        continue;
                    };
                    let built = email::build_message(
                        email_cfg,
                        &cx.templates,
                        &payload,
                        address,
                        sub,
                        &id,
                        now,
                    );
                    let outcome = match built {
                        Err(e) => SendOutcome::Failed(SendError::Permanent {
                            reason: e.to_string(),
                        }),
                        // Not given back (`release`): it would be claimed
                        // again at once by this very loop.
                        Ok(_) if mailers.is_down() => SendOutcome::Failed(server_down()),
                        Ok(msg) => {
                            // Bounded: a built message waits for a connection
                            // only while few others do, so memory stays flat.
                            let permit = email_slots.clone().acquire_owned().await;
                            let mailers = mailers.clone();
                            let to = address.clone();
                            tasks.spawn(async move {
                                let result = mailers.send(&msg, &to).await;
                                drop(permit);
                                (claimed, result)
                            });
                            continue;
                        }
                    };
                    rec.record(&claimed, outcome).await?;
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
                        Utc::now(),
                    ) {
                        Ok(r) => r,
                        Err(e) => {
                            let err = SendError::Permanent {
                                reason: e.to_string(),
                            };
                            rec.record(&claimed, SendOutcome::Failed(err)).await?;
                            continue;
                        }
                    };
                    let host = per_host
                        .entry(webhook::host_key(url))
                        .or_insert_with(|| {
                            Arc::new(Semaphore::new(opts.per_host_concurrency.max(1)))
                        })
                        .clone();
                    let global = global.clone();
                    let client = client.clone();
                    tasks.spawn(async move {
                        let _g = global.acquire_owned().await;
                        let _h = host.acquire_owned().await;
                        let result = client.send(&req).await;
                        (claimed, result)
                    });
                }
            }
        }
        tracing::debug!(elapsed = ?t0.elapsed(), "prepared");
        while let Some(joined) = tasks.join_next().await {
            let Ok((claimed, result)) = joined else {
                continue;
            };
            let outcome = match result {
                Ok(()) => SendOutcome::Sent,
                Err(e) => SendOutcome::Failed(e),
            };
            rec.record(&claimed, outcome).await?;
            if rec.unwritten() >= SENT_BATCH {
                rec.flush_sent().await?;
            }
        }
        rec.flush_sent().await?;
    }
    mailers.close().await;
    Ok(())
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
