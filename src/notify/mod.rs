//! Telling subscribers about new posts, one blog per [`run`]:
//!
//! 1. **plan** (`plan.rs`, pure): which posts are newly published and who
//!    wants each, given what the state remembers;
//! 2. **outbox** (`outbox.rs`): record the plan as delivery rows in the same
//!    transaction that marks the posts announced, fold due digests, and later
//!    record what became of each send;
//! 3. **dispatch** (`dispatch.rs`): claim due rows and send them, by email
//!    (`email/`) over a few reused SMTP connections, and by webhook
//!    (`webhook/`) with bounded concurrency per host;
//! 4. **record**: each outcome goes back to its row (sent, retry later, dead).
//!
//! Nothing here prints: a run returns a [`Summary`] (with what a dry run
//! would send), progress goes to the caller's hook in [`Options`], and
//! [`preview`] returns the message one subscriber would get.

mod audience;
mod dispatch;
pub mod email;
mod options;
mod outbox;
mod payload;
pub mod plan;
mod preview;
mod reenable;
pub mod webhook;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use options::{Clock, Options, Progress, ProgressHook};
pub use outbox::{digest_due, message_id};
pub use payload::{BlogInfo, Payload, PostSnapshot, TagSnapshot, blog_info, snapshot};
pub use preview::{Preview, PreviewError, preview};
pub use webhook::display_url;

use crate::config::BlogConfig;
use crate::config::subscribers::{self as subs, Subscriber, Target};
use crate::diag::Diagnostic;
use crate::model::Post;
use crate::posts;
use crate::state::{self, Store};
use crate::templates::Templates;

/// What a run did, for the CLI to print (`--json` for machines) and the
/// daemon to count.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub blog: String,
    pub first_run: bool,
    pub new_posts: Vec<String>,
    /// On a first run: published posts recorded as known without being
    /// announced (`--backfill` announces older ones).
    #[serde(skip_serializing_if = "is_zero")]
    pub recorded_quietly: usize,
    pub planned: usize,
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
    /// Dead deliveries in the state after the run (this run's and older).
    pub dead_total: u64,
    pub dry_run: bool,
    /// A dry run's planned deliveries (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_send: Vec<WouldSend>,
    /// The first failure to connect to the mail server in this run, if any:
    /// with it, the run's email deliveries wait for a later run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_server: Option<ConnectFailure>,
}

impl Summary {
    /// Deliveries were due and not one of them could be sent.
    pub fn nothing_sent(&self) -> bool {
        !self.dry_run && self.sent == 0 && self.retrying + self.dead > 0
    }
}

/// Why the mail server could not be used.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConnectFailure {
    pub reason: String,
    /// The configuration makes sending impossible (a refused login, an
    /// unknown host, a bad `smtp_url` or TLS set-up): trying again will not
    /// help until it is fixed. Otherwise the server may be back later.
    pub permanent: bool,
}

/// One delivery a dry run would have planned.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WouldSend {
    pub post_url: String,
    pub subscriber: String,
    /// `email` or `webhook`.
    pub channel: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("templates: {0}")]
    Templates(String),
    #[error("{0}")]
    Config(String),
    /// The task recording outcomes ended abnormally (a panic).
    #[error("recording outcomes failed: {0}")]
    Recorder(String),
}

/// Why a send failed, as the retry policy needs to know it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: connection refused or reset, timeouts, SMTP
    /// 4xx, HTTP 408/429/5xx. `retry_after` honours the receiver's wish.
    #[error("{reason}")]
    Transient {
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
    /// Trying again will not help: SMTP 5xx, HTTP 4xx.
    #[error("{reason}")]
    Permanent { reason: String },
    /// HTTP 410: the receiver is gone for good; the subscriber is disabled.
    #[error("{reason}")]
    Gone { reason: String },
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

/// Where a [`run`] gets the blog's posts from, so that a `run` reads each
/// post file once for its build and its notifications.
#[derive(Debug)]
pub enum Posts {
    /// Read the blog now, and add its problems to the run's (`notify`).
    Read,
    /// What the build of the same run read and reported the problems of:
    /// the posts its feeds show.
    Built(Vec<Post>),
}

/// Plans, records and sends for one blog; with `opts.dry_run`, only plans.
/// Problems with posts (as `posts_from` says) and subscribers are added to
/// `problems` and the run goes on with what is fine.
pub async fn run(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &Options,
    posts_from: Posts,
    problems: &mut Vec<Diagnostic>,
) -> Result<Summary, NotifyError> {
    let opts = &Options::for_blog(config, opts);
    let (subscribers, mut sub_problems) = subscribers(config);
    problems.append(&mut sub_problems);
    // A send-only run reads no posts: what it sends was frozen when planned.
    let posts = match posts_from {
        _ if opts.send_only => Vec::new(),
        Posts::Built(posts) => posts,
        Posts::Read => {
            let blog = posts::load(config);
            problems.extend(blog.problems);
            blog.posts
        }
    };
    let templates = Templates::load(config.templates.as_deref())
        .map_err(|e| NotifyError::Templates(e.to_string()))?;
    if opts.dry_run {
        // No state yet is a first run with no history; nothing is created.
        let store = Store::open_for_dry_run(&config.state, opts.new_state).await?;
        let subscribers = match &store {
            Some(store) => audience::with_state(config, store, subscribers).await?,
            None => subscribers,
        };
        let planned =
            outbox::plan_run(config, now, opts, store.as_ref(), &posts, &subscribers).await;
        if let Some(store) = store {
            store.close().await;
        }
        return Ok(planned?.summary);
    }
    let links = email::Links::for_blog(config.serve.as_ref(), &config.name, &|k| {
        std::env::var(k).ok()
    })
    .map_err(|e| NotifyError::Config(format!("{}: {e}", config.file.display())))?;
    let store = Store::open_for_run(&config.state, opts.new_state).await?;
    let guard = store.begin_run(&config.name, now, opts.lock_wait).await?;
    let result = async {
        audience::purge(config, &store, now).await?;
        let subscribers = audience::with_state(config, &store, subscribers).await?;
        reenable::enable_changed(&store, &config.name, &subscribers).await?;
        let mut summary = Summary::default();
        if !opts.send_only {
            let planned =
                outbox::plan_run(config, now, opts, Some(&store), &posts, &subscribers).await?;
            summary = planned.summary;
            // What this run added: on a shared outbox another worker may
            // have planned the same deliveries a moment before.
            summary.planned = store
                .record(&config.name, now, &planned.seen, &planned.announcements)
                .await?;
        }
        let cx = dispatch::Context::new(config, templates, subscribers, links);
        outbox::merge_digests(config, &store, &cx.blog, &cx.subscribers, now).await?;
        dispatch::send_due(config, now, opts, &store, &guard, &cx, &mut summary).await?;
        reenable::note_targets(&store, &config.name, cx.subscribers.values()).await?;
        let counts = store.counts(&config.name).await?;
        summary.dead_total = counts.get("dead").copied().unwrap_or(0);
        Ok(summary)
    }
    .await;
    let summary_json = result
        .as_ref()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .unwrap_or_else(|e: &NotifyError| format!("{{\"error\": {:?}}}", e.to_string()));
    store
        .finish_run(guard, opts.clock.now().max(now), &summary_json)
        .await?;
    // Closing checkpoints the WAL into the state file, which is all a dry
    // run reads (it opens the file immutable, ignoring any WAL).
    store.close().await;
    result
}

#[cfg(test)]
mod tests;

fn is_zero(n: &usize) -> bool {
    *n == 0
}
