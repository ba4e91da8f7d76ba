//! `postbode build`: write every feed of each blog.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::cli::{Outcome, for_each_blog, output, with_source};
use crate::config::BlogConfig;
use crate::model::Post;
use crate::pipeline::{self, BuildOptions};

pub async fn run(files: &[PathBuf], now: DateTime<Utc>, opts: BuildOptions) -> Outcome {
    for_each_blog(files, None, async |c| {
        with_source(c, async |c| {
            let (outcome, posts) = build_blog(c, now, opts).await;
            // Freeing 50,000 posts is no work to wait for before exiting.
            crate::memory::drop_aside(posts);
            outcome
        })
        .await
    })
    .await
}

/// Builds one blog and prints its problems; shared with `run` and `daemon`.
/// Also returns the posts the build read, for the notify half of a `run`:
/// `None` when the build could not run at all (`Outcome::Fatal`), or found
/// the blog unchanged and was not asked to keep them (`keep_posts`).
pub async fn build_blog(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: BuildOptions,
) -> (Outcome, Option<Vec<Post>>) {
    match pipeline::build(config, now, opts).await {
        Ok(report) => {
            let outcome = report.outcome();
            output::problems(report.problems);
            for f in &report.websub_failures {
                output::note(format_args!("{}: warning: {f}", config.file.display()));
            }
            (outcome, report.posts)
        }
        Err(e) => {
            output::error(e);
            (Outcome::Fatal, None)
        }
    }
}
