//! `postbode preview`: the exact email (headers and both parts) or webhook
//! request (headers and body) one subscriber would get for one post.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::cli::{Outcome, for_each_blog, output, with_source};
use crate::config::BlogConfig;
use crate::notify::{self, Preview, plan};
use crate::posts;
use crate::templates::Templates;

pub async fn run(
    feed_file: Option<PathBuf>,
    now: DateTime<Utc>,
    post: &str,
    subscriber: &str,
) -> Outcome {
    let files: Vec<PathBuf> = feed_file.into_iter().collect();
    for_each_blog(&files, None, async |c| {
        with_source(c, async |c| preview(c, now, post, subscriber)).await
    })
    .await
}

fn preview(config: &BlogConfig, now: DateTime<Utc>, post_ref: &str, subscriber: &str) -> Outcome {
    let blog = posts::load(config);
    // `/blog/x/` and `/blog/x` name the same page, as in a browser.
    let wanted = post_ref.trim_end_matches('/');
    let Some(post) = blog.posts.iter().find(|p| {
        p.permalink.trim_end_matches('/') == wanted
            || p.url.trim_end_matches('/') == wanted
            || p.source == post_ref
    }) else {
        output::error(format_args!(
            "no post with permalink, URL or source file {post_ref} (`postbode posts` lists them)"
        ));
        return Outcome::Fatal;
    };
    if !post.is_published(now) {
        let why = if post.draft {
            "it is a draft"
        } else if post.unlisted {
            "it is unlisted"
        } else {
            "its date has not come yet"
        };
        output::note(format_args!(
            "postbode: note: {} is not published ({why}): nobody gets this message until it is",
            post.permalink
        ));
    }
    let (subscribers, problems) = notify::subscribers(config);
    output::problems(problems);
    let Some(sub) = subscribers.iter().find(|s| s.id == subscriber) else {
        output::error(format_args!(
            "no valid subscriber {subscriber} in {}",
            config.file.display()
        ));
        return Outcome::Fatal;
    };
    if !plan::matches(&sub.filter, post) {
        output::note(format_args!(
            "postbode: note: the filters of {subscriber} do not match this post; it would not be sent"
        ));
    }
    let templates = match Templates::load(config.templates.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            output::error(format_args!("templates: {e}"));
            return Outcome::Fatal;
        }
    };
    match notify::preview(config, post, sub, &templates, now) {
        Ok(Preview::Email(raw)) => output::stdout(|out| {
            out.write_all(&raw)?;
            writeln!(out)
        }),
        Ok(Preview::Webhook { url, headers, body }) => output::stdout(|out| {
            writeln!(out, "POST {url}")?;
            for (k, v) in &headers {
                writeln!(out, "{k}: {v}")?;
            }
            writeln!(out)?;
            out.write_all(&body)?;
            writeln!(out)
        }),
        Err(e) => {
            output::error(e);
            Outcome::Fatal
        }
    }
}
