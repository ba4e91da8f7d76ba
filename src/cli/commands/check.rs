//! `postbode check`: read everything, write nothing, print every problem.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::cli::{Outcome, for_each_blog, output, with_source};
use crate::config::BlogConfig;
use crate::{notify, pipeline, posts};

pub async fn run(files: &[PathBuf], now: DateTime<Utc>) -> Outcome {
    for_each_blog(files, None, async |c| {
        with_source(c, async |c| check(c, now)).await
    })
    .await
}

fn check(config: &BlogConfig, now: DateTime<Utc>) -> Outcome {
    let blog = posts::load(config);
    let mut problems = blog.problems;
    problems.extend(notify::subscribers(config).1);
    problems.extend(pipeline::check_content(config, &blog.posts, now));
    let errors = problems.iter().filter(|p| p.is_error()).count();
    let warnings = problems.len() - errors;
    let outcome = output::problems(problems);
    let published = blog.posts.iter().filter(|p| p.is_published(now)).count();
    output::note(format_args!(
        "{}: {}, {published} published, {}, {}",
        config.file.display(),
        output::count(blog.posts.len() as u64, "post", "posts"),
        output::count(errors as u64, "error", "errors"),
        output::count(warnings as u64, "warning", "warnings"),
    ));
    outcome
}
