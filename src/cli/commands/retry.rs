//! `postbode retry --dead`: put dead deliveries back in the queue and switch
//! disabled subscribers back on; the next notify sends to them. It works on
//! an existing state and never creates one.

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
            let store = Store::open_existing(&c.state).await?;
            let done = async {
                let enabled = store.enable_all_subscribers(&c.name).await?;
                let revived = store.retry_dead(&c.name, now).await?;
                Ok::<_, crate::state::StateError>((revived, enabled))
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
