//! `postbode check`: read everything, write nothing, print every problem.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::cli::{Outcome, for_each_blog, output, with_source};
use crate::config::subscribers::{Subscriber, Target, written_filters};
use crate::config::{BlogConfig, lint};
use crate::diag::Diagnostic;
use crate::model::Post;
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
    let (subscribers, sub_problems) = notify::subscribers(config);
    problems.extend(sub_problems);
    problems.extend(settings(config, &subscribers, &blog.posts));
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

/// The settings a send depends on (`[email]` against the environment) and
/// the subscribers' filters against the blog's tags and authors.
fn settings(config: &BlogConfig, subscribers: &[Subscriber], posts: &[Post]) -> Vec<Diagnostic> {
    let text = lint::definition_text(&config.file);
    let has_email = subscribers
        .iter()
        .any(|s| matches!(s.target, Target::Email { .. }));
    let env = |k: &str| std::env::var(k).ok();
    let mut out = lint::email_problems(config, &text, has_email, &env);
    out.extend(lint::serve_problems(config, &text, &env));
    let mut tags = Vec::new();
    let mut authors = Vec::new();
    for post in posts {
        for t in &post.tags {
            tags.push(t.key.clone());
            tags.push(t.label.clone());
        }
        for a in &post.authors {
            authors.extend(a.key.clone());
            authors.extend(a.name.clone());
        }
    }
    tags.sort();
    tags.dedup();
    authors.sort();
    authors.dedup();
    let base = config
        .file
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let written = written_filters(config.subscribers.as_ref(), &base, &config.file);
    out.extend(lint::filter_problems(&written, &tags, &authors));
    out
}
