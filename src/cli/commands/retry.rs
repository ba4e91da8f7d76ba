//! `postbode retry`: `--dead` puts dead deliveries back in the queue and
//! switches disabled subscribers back on; `--due-now ID` (or `--all`) makes
//! deliveries that are backing off due now, for an operator who fixed the
//! receiver and does not want to wait hours for the backoff. Either way the
//! next notify sends them. It works on an existing state and never creates
//! one.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::cli::{Outcome, for_each_blog, output};
use crate::state::{StateError, Store};

/// Which deliveries to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// The arguments named none (or `--due-now` without an id or `--all`).
    Unsaid,
    Dead,
    DueNow(i64),
    AllDueNow,
}

impl What {
    pub fn from_args(dead: bool, due_now: Option<Option<i64>>, all: bool) -> What {
        match (dead, due_now, all) {
            (true, _, _) => What::Dead,
            (false, Some(Some(id)), false) => What::DueNow(id),
            (false, Some(None), true) => What::AllDueNow,
            _ => What::Unsaid,
        }
    }
}

pub async fn run(
    files: &[PathBuf],
    now: DateTime<Utc>,
    what: What,
    state: Option<&Path>,
) -> Outcome {
    match what {
        What::Unsaid => {
            output::error(
                "say which deliveries to retry: `postbode retry --dead` (dead ones back in \
                 the queue), `postbode retry --due-now ID` or `postbode retry --due-now --all` \
                 (backing-off ones due now)",
            );
            Outcome::Fatal
        }
        What::Dead => dead(files, now, state).await,
        What::DueNow(id) => due_now(files, now, Some(id), state).await,
        What::AllDueNow => due_now(files, now, None, state).await,
    }
}

async fn dead(files: &[PathBuf], now: DateTime<Utc>, state: Option<&Path>) -> Outcome {
    for_each_blog(files, state, async |c| {
        let revived = async {
            let store = Store::open_existing(&c.state).await?;
            let done = async {
                let enabled = store.enable_all_subscribers(&c.name).await?;
                let revived = store.retry_dead(&c.name, now).await?;
                Ok::<_, StateError>((revived, enabled))
            }
            .await;
            store.close().await;
            done
        };
        match revived.await {
            Ok((n, enabled)) => {
                let enabled = if enabled > 0 {
                    format!(
                        ", {} enabled again",
                        output::count(enabled, "disabled subscriber", "disabled subscribers")
                    )
                } else {
                    String::new()
                };
                output::note(format_args!(
                    "{}: {} put back{enabled}; the next notify sends them",
                    c.name,
                    output::count(n, "dead delivery", "dead deliveries")
                ));
                Outcome::Ok
            }
            Err(e) => {
                output::error(e);
                Outcome::Fatal
            }
        }
    })
    .await
}

/// One id belongs to one blog: the blogs that do not have it say nothing,
/// and when none has it that is the error.
async fn due_now(
    files: &[PathBuf],
    now: DateTime<Utc>,
    id: Option<i64>,
    state: Option<&Path>,
) -> Outcome {
    let mut unknown: Option<StateError> = None;
    let mut found = false;
    let outcome = for_each_blog(files, state, async |c| {
        let moved = async {
            let store = Store::open_existing(&c.state).await?;
            let done = store.retry_now(&c.name, id, now).await;
            store.close().await;
            done
        };
        match moved.await {
            Ok(n) => {
                found = true;
                let line = match id {
                    Some(id) if n == 0 => {
                        format!("delivery #{id} is already due; the next notify sends it")
                    }
                    Some(id) => format!("delivery #{id} is due now; the next notify sends it"),
                    None => format!(
                        "{} due now; the next notify sends them",
                        output::count(n, "retrying delivery", "retrying deliveries")
                    ),
                };
                output::note(format_args!("{}: {line}", c.name));
                Outcome::Ok
            }
            Err(e @ StateError::NoSuchDelivery { .. }) => {
                unknown = Some(e);
                Outcome::Ok
            }
            Err(e) => {
                found = true;
                output::error(e);
                Outcome::Fatal
            }
        }
    })
    .await;
    match unknown {
        Some(e) if !found => {
            output::error(format_args!(
                "{e}; `postbode status` lists the deliveries that are waiting"
            ));
            Outcome::Fatal
        }
        _ => outcome,
    }
}
