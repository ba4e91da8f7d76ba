//! The command line, the only layer that prints: finds the feed
//! definitions, runs the command for each blog and turns the reports into
//! output and an exit code (0 good, 1 problems, 2 could not run), ripgrep
//! style: one broken blog does not stop the others.

pub mod args;
mod commands;
mod output;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::{self, BlogConfig, StateLocation};
pub use crate::diag::Outcome;
use crate::notify::{Clock, Options};
use crate::pipeline::BuildOptions;
use crate::server::{Stop, schedule};

use args::{Cli, Command, PersonArg, StateCommand, SubscribersCommand};

/// Runs one invocation on the runtime `main` built.
pub async fn run(cli: Cli) -> Outcome {
    let now = cli.now.unwrap_or_else(Utc::now);
    match cli.command {
        Command::Build {
            feed_files,
            force,
            allow_shrink,
        } => {
            let opts = BuildOptions {
                force,
                allow_shrink,
                ..BuildOptions::default()
            };
            commands::build::run(&feed_files, now, opts).await
        }
        Command::Check { feed_files } => commands::check::run(&feed_files, now).await,
        Command::Run {
            feed_files,
            backfill,
            json,
            allow_shrink,
            new_state,
            state,
        } => {
            let build = BuildOptions {
                allow_shrink,
                ..BuildOptions::default()
            };
            let state = StateChoice {
                path: state.as_deref(),
                new_state,
            };
            let clock = Clock::from_fixed(cli.now);
            commands::run::run(&feed_files, now, clock, build, backfill, json, state).await
        }
        Command::Daemon {
            feed_files,
            every,
            listen,
            serve,
            allow_shrink,
            new_state,
            no_build,
            state,
        } => {
            let build = (!no_build).then_some(BuildOptions {
                allow_shrink,
                ..BuildOptions::default()
            });
            let state = StateChoice {
                path: state.as_deref(),
                new_state,
            };
            commands::daemon::run(&feed_files, every, [listen, serve], build, state, cli.now).await
        }
        Command::Notify {
            feed_files,
            dry_run,
            backfill,
            json,
            new_state,
            state,
        } => {
            let state = StateChoice {
                path: state.as_deref(),
                new_state,
            };
            let opts = Options {
                dry_run,
                backfill_since: backfill,
                clock: Clock::from_fixed(cli.now),
                ..Options::default()
            };
            commands::notify::run(&feed_files, now, opts, json, state).await
        }
        Command::Preview {
            feed_file,
            post,
            subscriber,
        } => commands::preview::run(feed_file, now, &post, &subscriber).await,
        Command::Status {
            feed_files,
            json,
            state,
        } => commands::status::run(&feed_files, now, json, state.as_deref()).await,
        Command::History {
            feed_files,
            subscriber,
            post,
            since,
            json,
            state,
        } => {
            let filter = commands::history::filter(subscriber, post, since);
            commands::history::run(&feed_files, &filter, json, state.as_deref()).await
        }
        Command::Retry {
            feed_files,
            dead,
            due_now,
            all,
            state,
        } => {
            let what = commands::retry::What::from_args(dead, due_now, all);
            commands::retry::run(&feed_files, now, what, state.as_deref()).await
        }
        Command::State {
            command: StateCommand::Migrate { from, to, json },
        } => commands::state::migrate(&from, &to, json).await,
        Command::Subscribers { command } => subscribers(command, now).await,
        Command::Serve {
            feed_files,
            listen,
            state,
        } => commands::serve::run(&feed_files, state.as_deref(), listen).await,
        Command::Posts { feed_file, json } => commands::posts::run(feed_file, now, json).await,
    }
}

async fn subscribers(command: SubscribersCommand, now: DateTime<Utc>) -> Outcome {
    use commands::subscribers::{self as subs, Person};
    let person = |who: PersonArg| match (who.id, who.email) {
        (Some(id), _) => Person::Id(id),
        (None, email) => Person::Email(email.unwrap_or_default()),
    };
    match command {
        SubscribersCommand::List {
            feed_files,
            json,
            state,
        } => subs::list(&feed_files, json, state.as_deref()).await,
        SubscribersCommand::Export {
            feed_file,
            who,
            state,
        } => subs::export(&feed_file, person(who), state.as_deref()).await,
        SubscribersCommand::Remove {
            feed_file,
            who,
            state,
        } => subs::remove(&feed_file, person(who), state.as_deref()).await,
        SubscribersCommand::Import {
            feed_file,
            file,
            state,
        } => subs::import(&feed_file, &file, now, state.as_deref()).await,
    }
}

/// A stop flag set on SIGTERM or SIGINT, for the commands that send: the
/// run in progress stops claiming, finishes (or gives back) what is in
/// flight, records it and the command exits 0. `None` (with the error
/// printed) when signals cannot be handled.
fn stop_on_signals() -> Option<Stop> {
    let stop = Stop::default();
    match schedule::stop_on_signals(stop.clone()) {
        Ok(()) => Some(stop),
        Err(e) => {
            output::error(format_args!("cannot handle signals: {e}"));
            None
        }
    }
}

fn stopped(stop: &Stop) -> bool {
    stop.load(std::sync::atomic::Ordering::SeqCst)
}

/// Which state a sending command uses (`--state`, else the feed
/// definition's) and whether it may start over (`--new-state`).
#[derive(Debug, Clone, Copy, Default)]
struct StateChoice<'a> {
    path: Option<&'a Path>,
    new_state: bool,
}

/// Runs `f` for each feed definition (all of `feeds/*.toml` when none are
/// named) and returns the worst outcome.
async fn for_each_blog(
    files: &[PathBuf],
    state: Option<&Path>,
    mut f: impl AsyncFnMut(&BlogConfig) -> Outcome,
) -> Outcome {
    let scanned = files.is_empty();
    let files = match feed_files(files) {
        Ok(f) => f,
        Err(message) => {
            output::error(message);
            return Outcome::Fatal;
        }
    };
    let mut worst = Outcome::Ok;
    for file in files {
        let outcome = match config::load(&file) {
            Ok(mut c) => {
                if let Some(s) = state {
                    c.state = StateLocation::from_arg(s);
                }
                f(&c).await
            }
            Err(e) => {
                output::error(e);
                if scanned && !names_a_blog(&file) {
                    output::note(format_args!(
                        "postbode: note: {} is in feeds/ but is no feed definition (it has no title, site_url or source): move it out of feeds/, or name the definitions to read as arguments",
                        file.display()
                    ));
                }
                Outcome::Fatal
            }
        };
        worst = worst.max(outcome);
    }
    worst
}

/// Runs `f` on the config with its posts on disk: a git source is cloned
/// or fetched first. A failed fetch with an earlier checkout is a warning and
/// the run goes on with that checkout (exit 1); a failed first clone stops
/// this blog (exit 2).
async fn with_source(config: &BlogConfig, f: impl AsyncFnOnce(&BlogConfig) -> Outcome) -> Outcome {
    match crate::source::resolve(config) {
        Ok(resolved) => {
            let stale = match &resolved.stale {
                Some(e) => {
                    output::note(format_args!("{}: warning: {e}", config.file.display()));
                    Outcome::Problems
                }
                None => Outcome::Ok,
            };
            f(&resolved.config).await.max(stale)
        }
        Err(e) => {
            output::error(format_args!("{}: {e}", config.file.display()));
            Outcome::Fatal
        }
    }
}

fn feed_files(given: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let dir = Path::new("feeds");
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("no feed definition given and cannot read feeds/: {e}"))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| !is_subscribers_file(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err("no feed definition given and feeds/ has no *.toml files".into());
    }
    Ok(files)
}

/// Whether a TOML file read from `feeds/` looks like it means to be a feed
/// definition at all, so a stray file gets a hint instead of a puzzle.
fn names_a_blog(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .is_none_or(|t| {
            ["title", "site_url", "source"]
                .iter()
                .any(|k| t.contains_key(*k))
        })
}

/// A separate subscribers file (only `[[subscribers]]` tables) may sit in
/// `feeds/` beside the definition that names it: it is not a blog of its
/// own. Anything else unreadable is left for `config::load` to explain.
fn is_subscribers_file(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return false;
    };
    let only_subscribers = !table.is_empty() && table.keys().all(|k| k == "subscribers");
    if only_subscribers {
        tracing::debug!(file = %path.display(), "a subscribers file, not a feed definition");
    }
    only_subscribers
}
