//! The command line's arguments: the commands, their flags, and the parsers
//! for dates and durations (clap derive).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "postbode",
    version,
    about = "Turns a Docusaurus blog into Atom, RSS and JSON feeds",
    after_help = "Defaults: output out/<name>, state state.db and the email outbox outbox/ go in the project folder: the folder above feeds/ for a definition in feeds/, else the definition's own folder. Relative paths written in a definition are read from its folder.\n\nExit codes: 0 all good; 1 finished with problems (e.g. posts that could not be read, the others are still published; deliveries were due and none could be sent, e.g. the mail server is down); 2 could not run (unreadable feed definition, unwritable output; a configuration that makes sending impossible: bad TLS set-up, refused login, unknown mail host)."
)]
pub struct Cli {
    /// Use this time instead of the clock for every publication decision
    /// (RFC 3339, e.g. 2025-07-16T00:00:00Z): for tests and reproducible builds.
    #[arg(long, global = true, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,

    /// Log lines as text (a terminal) or JSON (Kubernetes, journald collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the posts and write every feed. Without arguments: every feeds/*.toml.
    Build {
        feed_files: Vec<PathBuf>,
        /// Rebuild even when nothing changed since the last build.
        #[arg(long)]
        force: bool,
        /// Publish even when the blog lost more than half of its published
        /// posts since the last build (or all of them): without it such a
        /// build is an error that leaves the published feeds untouched.
        #[arg(long)]
        allow_shrink: bool,
    },
    /// Read everything, write nothing; print every problem as path:line:col: message.
    Check { feed_files: Vec<PathBuf> },
    /// Build the feeds, then notify: the one command for cron, a systemd timer or a CronJob.
    Run {
        feed_files: Vec<PathBuf>,
        /// Also announce posts published since this date (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_name = "DATE", value_parser = parse_since)]
        backfill: Option<DateTime<Utc>>,
        /// Print the notify summary as JSON on stdout (one object; an array
        /// of them for several blogs).
        #[arg(long)]
        json: bool,
        /// Publish even when the blog lost more than half of its published
        /// posts since the last build (or all of them): without it such a
        /// build is an error that leaves the published feeds untouched.
        #[arg(long)]
        allow_shrink: bool,
        /// Start over with a new state when the one that existed is missing
        /// or empty (its marker `<state>.id` is still there): posts published
        /// since its last run will not be announced. Without it that is an
        /// error (exit 2): restore the state from a backup instead. A daemon
        /// starts over only at its start: a state it opened and lost is
        /// always an error.
        #[arg(long)]
        new_state: bool,
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
    /// Run in a loop: build and notify every interval until SIGTERM/SIGINT.
    Daemon {
        feed_files: Vec<PathBuf>,
        /// Time between the starts of two runs: 30s, 5m, 1h.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        every: std::time::Duration,
        /// Serve /healthz and Prometheus /metrics here, e.g. 127.0.0.1:9090.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Also serve the subscription pages (as `postbode serve`) here,
        /// e.g. 0.0.0.0:8080.
        #[arg(long, value_name = "ADDR")]
        serve: Option<std::net::SocketAddr>,
        /// Publish even when the blog lost more than half of its published
        /// posts since the last build (or all of them): without it such a
        /// build is an error that leaves the published feeds untouched.
        #[arg(long)]
        allow_shrink: bool,
        /// Start over with a new state when the one that existed is missing
        /// or empty (its marker `<state>.id` is still there): posts published
        /// since its last run will not be announced. Without it that is an
        /// error (exit 2): restore the state from a backup instead. A daemon
        /// starts over only at its start: a state it opened and lost is
        /// always an error.
        #[arg(long)]
        new_state: bool,
        /// Notify only: plan and send, write no feeds. For replicas that
        /// share a PostgreSQL state while one job (a CronJob running
        /// `postbode build`) writes the feeds.
        #[arg(long)]
        no_build: bool,
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
    /// Serve the subscription pages (subscribe, confirm, manage, unsubscribe)
    /// and the webhook API of every blog with a [serve] table.
    Serve {
        feed_files: Vec<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:8080 (behind a TLS proxy).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
    /// Announce newly published posts to the subscribers whose filters match,
    /// and send every due delivery (retries included).
    Notify {
        feed_files: Vec<PathBuf>,
        /// Show what would be sent; send and record nothing.
        #[arg(long)]
        dry_run: bool,
        /// On the first run (or any run): also announce posts published since this date (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_name = "DATE", value_parser = parse_since)]
        backfill: Option<DateTime<Utc>>,
        /// Print the run summary as JSON on stdout (one object; an array of
        /// them for several blogs).
        #[arg(long)]
        json: bool,
        /// Start over with a new state when the one that existed is missing
        /// or empty (its marker `<state>.id` is still there): posts published
        /// since its last run will not be announced. Without it that is an
        /// error (exit 2): restore the state from a backup instead. A daemon
        /// starts over only at its start: a state it opened and lost is
        /// always an error.
        #[arg(long)]
        new_state: bool,
        /// State database: an SQLite file or a postgres:// URL (default: `state` in the feed definition, or state.db in its project folder: above `feeds/`, else beside the definition).
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
    /// Print the exact email (headers and both parts) or webhook request (headers and body) a subscriber would get for a post.
    Preview {
        feed_file: Option<PathBuf>,
        /// The post's permalink (e.g. /blog/2025/07/15/nds) or URL.
        #[arg(long)]
        post: String,
        #[arg(long)]
        subscriber: String,
    },
    /// List deliveries that are pending, held for a digest, retrying or
    /// dead, with when each is tried next and its last error.
    Status {
        feed_files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
    /// What was sent, when, to whom (by subscriber id), over which channel,
    /// with the message id; newest first.
    History {
        feed_files: Vec<PathBuf>,
        /// Only what went to this subscriber (its `id`).
        #[arg(long, value_name = "ID")]
        subscriber: Option<String>,
        /// Only this post: its permalink (e.g. /blog/2025/07/15/nds) or URL.
        #[arg(long, value_name = "PERMALINK")]
        post: Option<String>,
        /// Only what was sent since this date (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_name = "DATE", value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
    /// Put dead deliveries back in the queue (`--dead`), or make deliveries
    /// that are backing off due now (`--due-now ID` or `--due-now --all`,
    /// once the receiver is fixed); the next notify sends them.
    Retry {
        feed_files: Vec<PathBuf>,
        /// Dead deliveries (and disabled subscribers) back in the queue.
        #[arg(long, conflicts_with = "due_now")]
        dead: bool,
        /// A retrying delivery (its id, from `postbode status`) due now
        /// instead of at the end of its backoff; with `--all`, every one.
        /// (`--now` is the global clock option.)
        #[arg(long, value_name = "ID", num_args = 0..=1, value_parser = parse_delivery_id)]
        due_now: Option<Option<i64>>,
        /// With `--due-now`: every retrying delivery.
        #[arg(long, requires = "due_now")]
        all: bool,
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
    /// The subscribers of a blog: list them (from the feed definition and
    /// from postbode serve), export or erase one person's data, import
    /// addresses.
    Subscribers {
        #[command(subcommand)]
        command: SubscribersCommand,
    },
    /// Manage the state database.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Print the posts as postbode understands them.
    Posts {
        feed_file: Option<PathBuf>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration like 30s, 5m or 1h: {e}"))?;
    if d.is_zero() {
        return Err("the interval must be longer than zero".into());
    }
    Ok(d)
}

fn parse_delivery_id(s: &str) -> Result<i64, String> {
    s.parse().map_err(|_| {
        "expected a delivery's id (the ID column of `postbode status`); \
         `--due-now --all` for every retrying delivery"
            .to_string()
    })
}

fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    parse_now(s)
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 date-time like 2025-07-16T00:00:00Z: {e}"))
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Copy an SQLite state into an empty PostgreSQL database (seen posts,
    /// deliveries with their status, attempts and ids, runs, disabled
    /// subscribers), so that moving to PostgreSQL announces nothing again.
    /// Refuses a database that already holds a state. Stop every run of the
    /// blogs first.
    Migrate {
        /// The SQLite state file.
        #[arg(long, value_name = "PATH")]
        from: PathBuf,
        /// postgres://user@host/db (a password is better given in
        /// POSTBODE_DATABASE_URL: pass `--to env`).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Print what was copied as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Who `subscribers export` and `remove` are about.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct PersonArg {
    /// The subscriber id (serve:12), as `subscribers list` shows it.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// The email address.
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Every subscriber with its origin (definition or serve), channel,
    /// status (active, unsubscribed, pending, confirmed) and digest.
    List {
        feed_files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
    /// One person's data (address, choices, times, what was sent) as JSON.
    Export {
        feed_file: PathBuf,
        #[command(flatten)]
        who: PersonArg,
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
    /// Erase one subscriber of postbode serve now (and cancel what was not sent).
    Remove {
        feed_file: PathBuf,
        #[command(flatten)]
        who: PersonArg,
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
    /// Add addresses whose consent you hold, confirmed: one per line, or
    /// CSV `address,tags,authors,digest` with `;` between tags.
    Import {
        feed_file: PathBuf,
        file: PathBuf,
        #[arg(long, value_name = "PATH")]
        state: Option<PathBuf>,
    },
}
