//! `postbode retry --dead`: put dead deliveries back in the queue; the next
//! notify sends them.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::cli::{Outcome, for_each_blog, output};
use crate::state::Store;

pub async fn run(
    files: &[PathBuf],
    now: DateTime<Utc>,
    dead: bool,
    state: Option<&Path>,
) -> Outcome {
    if !dead {
        output::error("say which deliveries to retry: `postbode retry --dead`");
        return Outcome::Fatal;
    }
    for_each_blog(files, state, async |c| {
        let revived = async {
            let store = Store::open(&c.state).await?;
            store.retry_dead(&c.name, now).await
        };
        match revived.await {
            Ok(n) => {
                output::note(format_args!(
                    "{}: {} put back; the next notify sends them",
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
