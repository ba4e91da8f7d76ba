//! One `notify` run for one blog: read the posts, plan what is new, record
//! it in the state (posts and deliveries in one transaction), then claim and
//! send every due delivery, recording each outcome. Sending never holds a
//! database transaction open; a crash leaves leased rows that the next run
//! takes over, and the delivery id is the message's identity on the wire so
//! a receiver can drop the rare duplicate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveTime, TimeDelta, TimeZone, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::config::BlogConfig;
use crate::config::subscribers::{self as subs, Digest, Subscriber, Target};
use crate::diag::Diagnostic;
use crate::model::Post;
use crate::notify::email::{self, Mailer};
use crate::notify::plan::{self, KnownPost};
use crate::notify::webhook::{self, WebhookClient};
use crate::notify::{BlogInfo, Payload, PostSnapshot, SendError};
use crate::posts;
use crate::render::{self, Assets, Document, Site};
use crate::state::{self, Announcement, Claimed, NewDelivery, SeenPost, Store};
use crate::templates::Templates;

/// How `notify` behaves; the defaults suit a scheduled run.
#[derive(Debug, Clone)]
pub struct Options {
    pub dry_run: bool,
    pub backfill_since: Option<DateTime<Utc>>,
    /// How long to wait for another run holding the lock.
    pub lock_wait: Duration,
    /// Transient failures older than this become dead.
    pub max_age: TimeDelta,
    pub webhook_concurrency: usize,
    pub per_host_concurrency: usize,
    pub webhook_timeout: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
    /// Set by the daemon on SIGTERM: claim no more work.
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Extra CA certificate for SMTP TLS (tests, private relays).
    pub smtp_ca_file: Option<std::path::PathBuf>,
}

impl Options {
    /// The defaults, with what the feed definition's `[delivery]` says.
    pub fn for_blog(config: &BlogConfig, base: &Options) -> Options {
        let d = &config.delivery;
        Options {
            max_age: d
                .max_age_hours
                .map_or(base.max_age, |h| TimeDelta::hours(i64::from(h))),
            max_attempts: d.max_attempts.unwrap_or(base.max_attempts),
            webhook_concurrency: d.webhook_concurrency.unwrap_or(base.webhook_concurrency),
            per_host_concurrency: d.per_host_concurrency.unwrap_or(base.per_host_concurrency),
            webhook_timeout: d
                .webhook_timeout_seconds
                .map_or(base.webhook_timeout, Duration::from_secs),
            lock_wait: d
                .lock_wait_seconds
                .map_or(base.lock_wait, Duration::from_secs),
            ..base.clone()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dry_run: false,
            backfill_since: None,
            lock_wait: Duration::from_secs(60),
            max_age: TimeDelta::days(3),
            max_attempts: 12,
            webhook_concurrency: 64,
            per_host_concurrency: 16,
            webhook_timeout: Duration::from_secs(15),
            stop: None,
            smtp_ca_file: std::env::var_os("POSTBODE_SMTP_CA_FILE").map(Into::into),
        }
    }
}

/// What a run did, printed at its end (`--json` for machines).
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub blog: String,
    pub first_run: bool,
    pub new_posts: Vec<String>,
    pub planned: usize,
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
    /// Dead deliveries in the state after the run (this run's and older).
    pub dead_total: u64,
    /// Digest deliveries waiting for their period to end.
    pub held: usize,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("templates: {0}")]
    Templates(String),
    #[error("{0}")]
    Config(String),
}

/// Everything a run needs that does not change while it sends.
struct Context {
    blog: BlogInfo,
    templates: Templates,
    subscribers: HashMap<String, Subscriber>,
}

pub fn blog_info(config: &BlogConfig) -> BlogInfo {
    BlogInfo {
        name: config.name.clone(),
        title: config.title.clone(),
        url: config.site_link(&config.blog_route("")),
        feed_url: format!("{}/atom.xml", config.feeds_url),
    }
}

/// The subscribers of a blog, with problems (for `check`).
pub fn subscribers(config: &BlogConfig) -> (Vec<Subscriber>, Vec<Diagnostic>) {
    let base = config
        .file
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let (list, mut problems) = subs::resolve(
        config.subscribers.as_ref(),
        &base,
        &config.file,
        config.language.as_deref(),
        &|k| std::env::var(k).ok(),
    );
    if config.email.is_none()
        && list
            .iter()
            .any(|s| matches!(s.target, Target::Email { .. }))
    {
        problems.push(Diagnostic::error(
            &config.file,
            "there are email subscribers but no [email] section (from, transport)",
        ));
    }
    (list, problems)
}

/// A post as a notification shows it: its summary and absolute image URL.
pub fn snapshot(config: &BlogConfig, post: &Post) -> PostSnapshot {
    let body = posts::read_body(config, post).unwrap_or_default();
    let summary = render::post_summary(post.description.as_deref(), &body);
    let path = config.source.join(&post.source);
    let assets_url = format!("{}/assets", config.feeds_url);
    let site = Site {
        site_url: &config.site_url,
    };
    let source = Document {
        path: &path,
        display_path: &path,
        url: &post.url,
        body: &body,
        body_line: post.body_line,
    };
    let assets = Assets::new(&assets_url);
    let image = post
        .image
        .as_deref()
        .and_then(|i| render::resolve_image_url(i, &source, &site, &assets));
    PostSnapshot::of(post, &config.site_url, summary, image)
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

pub fn message_id(config: &BlogConfig, delivery_id: i64) -> String {
    match &config.email {
        Some(e) => email::message_id(&config.name, delivery_id, &e.from),
        None => format!("postbode.{}.{delivery_id}", config.name),
    }
}

/// Plans, records and sends for one blog.
pub async fn run(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &Options,
    problems: &mut Vec<Diagnostic>,
) -> Result<Summary, NotifyError> {
    let started = std::time::Instant::now();
    let opts = &Options::for_blog(config, opts);
    let (subscribers, mut sub_problems) = subscribers(config);
    tracing::debug!(elapsed = ?started.elapsed(), "subscribers read");
    problems.append(&mut sub_problems);
    let blog = posts::load(config);
    problems.extend(blog.problems);
    let templates = Templates::load(config.templates.as_deref())
        .map_err(|e| NotifyError::Templates(e.to_string()))?;
    let store = Store::open(&config.state).await?;
    let guard = store.begin_run(&config.name, now, opts.lock_wait).await?;
    let result = run_locked(
        config,
        now,
        opts,
        &store,
        &guard,
        &blog.posts,
        subscribers,
        templates,
    )
    .await;
    let summary_json = result
        .as_ref()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    store.finish_run(guard, Utc::now(), &summary_json).await?;
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_locked(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &Options,
    store: &Store,
    guard: &state::RunGuard,
    posts: &[Post],
    subscribers: Vec<Subscriber>,
    templates: Templates,
) -> Result<Summary, NotifyError> {
    let first_run = !store.has_history(&config.name).await?;
    let known: Vec<KnownPost> = store
        .seen_posts(&config.name)
        .await?
        .into_iter()
        .map(|s| KnownPost {
            key: s.key,
            permalink: s.permalink,
            title: s.title,
            announced: s.announced,
        })
        .collect();
    let disabled: Vec<String> = store
        .disabled_subscribers(&config.name)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let plan = plan::plan(
        posts,
        now,
        &known,
        first_run,
        opts.backfill_since,
        &subscribers,
        &disabled,
    );
    let info = blog_info(config);
    let mut summary = Summary {
        blog: config.name.clone(),
        first_run,
        dry_run: opts.dry_run,
        ..Summary::default()
    };
    let by_id: HashMap<String, Subscriber> =
        subscribers.into_iter().map(|s| (s.id.clone(), s)).collect();
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
            .filter_map(|id| by_id.get(id))
            .map(|s| NewDelivery {
                subscriber: s.id.clone(),
                channel: s.target.channel().to_string(),
                payload: payload_json.clone(),
                hold_until: digest_due(s.digest, now, config.timezone),
            })
            .collect();
        summary.planned += deliveries.len();
        if opts.dry_run {
            for d in &deliveries {
                println!(
                    "would send {} to {} ({})",
                    post.url, d.subscriber, d.channel
                );
            }
        }
        announcements.push(Announcement {
            key: a.key.clone(),
            permalink: post.permalink.clone(),
            title: post.title.clone(),
            published_at: post.date,
            deliveries,
        });
    }
    if opts.dry_run {
        return Ok(summary);
    }
    let seen: Vec<SeenPost> = plan
        .seen
        .iter()
        .map(|k| SeenPost {
            key: k.key.clone(),
            permalink: k.permalink.clone(),
            title: k.title.clone(),
            announced: k.announced,
        })
        .collect();
    store
        .record(&config.name, now, &seen, &announcements)
        .await?;

    let cx = Arc::new(Context {
        blog: info,
        templates,
        subscribers: by_id,
    });
    merge_digests(config, store, &cx, now).await?;
    let started = std::time::Instant::now();
    send_due(config, now, opts, store, guard, &cx, &mut summary).await?;
    tracing::debug!(elapsed = ?started.elapsed(), "due deliveries sent");
    let counts = store.counts(&config.name).await?;
    summary.dead_total = counts.get("dead").copied().unwrap_or(0);
    Ok(summary)
}

/// Folds each digest subscriber's due held deliveries into one message.
async fn merge_digests(
    config: &BlogConfig,
    store: &Store,
    cx: &Context,
    now: DateTime<Utc>,
) -> Result<(), NotifyError> {
    for sub in cx.subscribers.values().filter(|s| s.digest != Digest::None) {
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
            blog: cx.blog.clone(),
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

/// SMTP connections used at once: one connection spends most of its time
/// waiting for the server's replies (MAIL, RCPT, DATA, end of data).
const SMTP_CONNECTIONS: usize = 4;

/// A few reused SMTP connections shared by the send tasks of a run.
struct MailerPool {
    config: Option<crate::config::subscribers::EmailConfig>,
    ca_file: Option<std::path::PathBuf>,
    idle: tokio::sync::Mutex<Vec<Mailer>>,
    connections: Semaphore,
    /// Once the mail server cannot be reached (or refuses our login), the
    /// other email deliveries of this run are not tried: each is scheduled
    /// for a later run, so one unreachable server costs one timeout, not one
    /// per message.
    down: std::sync::atomic::AtomicBool,
}

impl MailerPool {
    fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn send(&self, msg: &lettre::Message, to: &str) -> Result<(), SendError> {
        let _permit = self.connections.acquire().await;
        if self.is_down() {
            return Err(SendError::Transient {
                reason: "the mail server could not be reached earlier in this run".into(),
                retry_after: None,
            });
        }
        let idle = self.idle.lock().await.pop();
        let mut mailer = match idle {
            Some(m) => m,
            None => {
                let Some(cfg) = &self.config else {
                    return Err(SendError::Permanent {
                        reason: "no [email] section in the feed definition".into(),
                    });
                };
                match Mailer::connect_with(cfg, &|k| std::env::var(k).ok(), self.ca_file.as_deref())
                    .await
                {
                    Ok(m) => m,
                    Err(e) => {
                        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
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

/// What became of one claimed delivery.
enum Outcome {
    Sent,
    Failed(SendError),
    /// The subscriber is no longer configured.
    Orphan,
}

async fn send_due(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &Options,
    store: &Store,
    guard: &state::RunGuard,
    cx: &Arc<Context>,
    summary: &mut Summary,
) -> Result<(), NotifyError> {
    let lease = Duration::from_secs(300);
    let email_slots = Arc::new(Semaphore::new(SMTP_CONNECTIONS * 8));
    let mailers = Arc::new(MailerPool {
        config: config.email.clone(),
        ca_file: opts.smtp_ca_file.clone(),
        idle: tokio::sync::Mutex::new(Vec::new()),
        connections: Semaphore::new(SMTP_CONNECTIONS),
        down: std::sync::atomic::AtomicBool::new(false),
    });
    let client = WebhookClient::new(opts.webhook_timeout, 5)
        .map_err(|e| NotifyError::Config(e.to_string()))?;
    let client = Arc::new(client);
    let global = Arc::new(Semaphore::new(opts.webhook_concurrency.max(1)));
    let mut per_host: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut rec = Recorder {
        bar: progress_bar(),
        store,
        config,
        opts,
        now,
        summary,
        sent: Vec::new(),
    };
    loop {
        // On shutdown nothing new is claimed; what was claimed has been
        // sent and recorded by now (each batch is finished before the next).
        if opts
            .stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
        {
            tracing::info!(blog = %config.name, "stop requested: claiming no more deliveries");
            break;
        }
        store.heartbeat(guard, Utc::now()).await?;
        let t0 = std::time::Instant::now();
        let batch = store
            .claim_due(&config.name, guard, now, lease, 2500)
            .await?;
        tracing::debug!(elapsed = ?t0.elapsed(), n = batch.len(), "claimed");
        rec.bar.inc_length(batch.len() as u64);
        if batch.is_empty() {
            break;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for claimed in batch {
            // A row that keeps coming back (the process died while sending
            // it, again and again) is given up rather than retried forever.
            if claimed.attempts > opts.max_attempts {
                let err = SendError::Permanent {
                    reason: format!("gave up after {} attempts", claimed.attempts - 1),
                };
                rec.record(&claimed, Outcome::Failed(err)).await?;
                continue;
            }
            let Some(sub) = cx.subscribers.get(&claimed.subscriber).cloned() else {
                rec.record(&claimed, Outcome::Orphan).await?;
                continue;
            };
            let payload: Payload = match serde_json::from_str(&claimed.payload) {
                Ok(p) => p,
                Err(e) => {
                    let err = SendError::Permanent {
                        reason: format!("stored payload unreadable: {e}"),
                    };
                    rec.record(&claimed, Outcome::Failed(err)).await?;
                    continue;
                }
            };
            let id = message_id(config, claimed.id);
            match &sub.target {
                Target::Email { address } => {
                    let Some(email_cfg) = &config.email else {
                        let err = SendError::Permanent {
                            reason: "no [email] section in the feed definition".into(),
                        };
                        rec.record(&claimed, Outcome::Failed(err)).await?;
                        continue;
                    };
                    let outcome = match email::build_message(
                        email_cfg,
                        &cx.templates,
                        &payload,
                        address,
                        &sub,
                        &id,
                        now,
                    ) {
                        Err(e) => Outcome::Failed(SendError::Permanent {
                            reason: e.to_string(),
                        }),
                        // Not given back (`release`): it would be claimed
                        // again at once by this very loop.
                        Ok(_) if mailers.is_down() => Outcome::Failed(SendError::Transient {
                            reason: "the mail server could not be reached earlier in this run"
                                .into(),
                            retry_after: None,
                        }),
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
                            rec.record(&claimed, Outcome::Failed(err)).await?;
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
                Ok(()) => Outcome::Sent,
                Err(e) => Outcome::Failed(e),
            };
            rec.record(&claimed, outcome).await?;
            if rec.sent.len() >= 256 {
                store
                    .mark_sent_many(&std::mem::take(&mut rec.sent), Utc::now())
                    .await?;
            }
        }
        store
            .mark_sent_many(&std::mem::take(&mut rec.sent), Utc::now())
            .await?;
    }
    rec.bar.finish_and_clear();
    mailers.close().await;
    Ok(())
}

/// Stores what happened to one delivery: sent, retry later (with backoff or
/// the receiver's `Retry-After`), or dead.
struct Recorder<'a> {
    store: &'a Store,
    config: &'a BlogConfig,
    opts: &'a Options,
    now: DateTime<Utc>,
    summary: &'a mut Summary,
    /// Sent ids not yet written (`mark_sent_many`).
    sent: Vec<i64>,
    /// Deliveries done; drawn only on a terminal.
    bar: indicatif::ProgressBar,
}

fn progress_bar() -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} deliveries {wide_bar} {eta}")
    {
        bar.set_style(style);
    }
    bar
}

impl Recorder<'_> {
    async fn record(&mut self, claimed: &Claimed, outcome: Outcome) -> Result<(), NotifyError> {
        let (store, config, opts, now) = (self.store, self.config, self.opts, self.now);
        let summary = &mut *self.summary;
        let sent = &mut self.sent;
        self.bar.inc(1);
        let done = Utc::now().max(now);
        match outcome {
            Outcome::Sent => {
                // Written in batches by the caller (`mark_sent_many`).
                sent.push(claimed.id);
                summary.sent += 1;
            }
            Outcome::Orphan => {
                store
                    .mark_failed(
                        claimed.id,
                        done,
                        "the subscriber is no longer in the feed definition",
                        None,
                        true,
                    )
                    .await?;
                summary.dead += 1;
            }
            Outcome::Failed(err) => {
                let reason = err.to_string();
                let (dead, next) = match &err {
                    SendError::Transient { retry_after, .. } => {
                        let wait = retry_after.unwrap_or_else(|| state::backoff(claimed.attempts));
                        let next = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(1));
                        (now - claimed.created_at > opts.max_age, Some(next))
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
                store
                    .mark_failed(
                        claimed.id,
                        done,
                        &reason,
                        if dead { None } else { next },
                        dead,
                    )
                    .await?;
                if dead {
                    summary.dead += 1;
                } else {
                    summary.retrying += 1;
                }
            }
        }
        Ok(())
    }
}

/// The URL a webhook subscriber posts to, safe to print: scheme, host and
/// port only (as `PreparedRequest::redacted_url`: the port tells two local
/// receivers apart and is no secret).
pub fn redacted(url: &secrecy::SecretString) -> String {
    url::Url::parse(url.expose_secret())
        .map(|u| {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(port) => format!("{}://{host}:{port}/…", u.scheme()),
                None => format!("{}://{host}/…", u.scheme()),
            }
        })
        .unwrap_or_else(|_| "(invalid URL)".into())
}
