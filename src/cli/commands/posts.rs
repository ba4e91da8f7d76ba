//! `postbode posts`: the posts as postbode understands them, as a table or
//! one JSON array.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::cli::{Outcome, for_each_blog, output, with_source};
use crate::config::BlogConfig;
use crate::model::Post;
use crate::posts;

pub async fn run(feed_file: Option<PathBuf>, now: DateTime<Utc>, json: bool) -> Outcome {
    let files: Vec<PathBuf> = feed_file.into_iter().collect();
    let mut items: Vec<serde_json::Value> = Vec::new();
    let outcome = for_each_blog(&files, None, async |c| {
        with_source(c, async |c| {
            let blog = posts::load(c);
            let outcome = output::problems(blog.problems);
            if json {
                items.extend(
                    blog.posts
                        .iter()
                        .filter_map(|p| serde_json::to_value(post_json(c, p, now)).ok()),
                );
                return outcome;
            }
            outcome.max(output::stdout(|out| {
                print_table(out, &blog.posts, now, c.timezone)
            }))
        })
        .await
    })
    .await;
    if json {
        // One array for every blog's posts: each post names its blog.
        return outcome.max(output::json(&items));
    }
    outcome
}

#[derive(Serialize)]
struct PostJson<'a> {
    blog: &'a str,
    source: &'a str,
    permalink: &'a str,
    url: &'a str,
    date: String,
    title: &'a str,
    description: Option<String>,
    tags: Vec<TagJson<'a>>,
    authors: Vec<AuthorJson<'a>>,
    draft: bool,
    unlisted: bool,
    published: bool,
}

#[derive(Serialize)]
struct TagJson<'a> {
    label: &'a str,
    permalink: &'a str,
}

#[derive(Serialize)]
struct AuthorJson<'a> {
    key: Option<&'a str>,
    name: Option<&'a str>,
}

fn post_json<'a>(config: &'a BlogConfig, post: &'a Post, now: DateTime<Utc>) -> PostJson<'a> {
    PostJson {
        blog: &config.name,
        source: &post.source,
        permalink: &post.permalink,
        url: &post.url,
        date: post.date.to_rfc3339_opts(SecondsFormat::Secs, true),
        title: &post.title,
        description: post.description.clone().or_else(|| {
            posts::read_body(config, post)
                .ok()
                .and_then(|b| crate::render::post_summary(None, &b))
        }),
        tags: post
            .tags
            .iter()
            .map(|t| TagJson {
                label: &t.label,
                permalink: &t.permalink,
            })
            .collect(),
        authors: post
            .authors
            .iter()
            .map(|a| AuthorJson {
                key: a.key.as_deref(),
                name: a.name.as_deref(),
            })
            .collect(),
        draft: post.draft,
        unlisted: post.unlisted,
        published: post.is_published(now),
    }
}

/// The table for people: dates are days in the blog's time zone, as its
/// pages show them.
fn print_table(
    out: &mut dyn Write,
    posts: &[Post],
    now: DateTime<Utc>,
    timezone: chrono_tz::Tz,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<10}  {:<11}  {:<50}  TAGS",
        "DATE", "STATE", "PERMALINK"
    )?;
    for p in posts {
        let state = if p.draft {
            "draft"
        } else if p.unlisted {
            "unlisted"
        } else if p.date > now {
            "scheduled"
        } else {
            "published"
        };
        let tags: Vec<&str> = p.tags.iter().map(|t| t.label.as_str()).collect();
        writeln!(
            out,
            "{:<10}  {:<11}  {:<50}  {}",
            p.date.with_timezone(&timezone).format("%Y-%m-%d"),
            state,
            p.permalink,
            tags.join(", ")
        )?;
        writeln!(out, "            {}", p.title)?;
    }
    Ok(())
}
