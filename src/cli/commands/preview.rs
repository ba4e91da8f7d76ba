//! `postbode preview`: the exact email (headers and both parts) or webhook
//! request (headers and body) one subscriber would get for one post.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::cli::{Outcome, for_each_blog, output, with_source};
use crate::config::BlogConfig;
use crate::config::subscribers::Target;
use crate::notify::deliver;
use crate::notify::{Payload, email, plan, webhook};
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
    let Some(post) = blog
        .posts
        .iter()
        .find(|p| p.permalink == post_ref || p.url == post_ref || p.source == post_ref)
    else {
        output::error(format_args!("no post with permalink {post_ref}"));
        return Outcome::Fatal;
    };
    let (subscribers, problems) = deliver::subscribers(config);
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
    let payload = Payload {
        blog: deliver::blog_info(config),
        posts: vec![deliver::snapshot(config, post)],
    };
    // A preview has no delivery row yet; 0 stands in for its id.
    let id = deliver::message_id(config, 0);
    match &sub.target {
        Target::Email { address } => {
            let Some(email) = &config.email else {
                output::error(format_args!(
                    "no [email] section in {}",
                    config.file.display()
                ));
                return Outcome::Fatal;
            };
            match email::build_message(email, &templates, &payload, address, sub, &id, now) {
                Ok(msg) => output::stdout(|out| {
                    out.write_all(&msg.formatted())?;
                    writeln!(out)
                }),
                Err(e) => {
                    output::error(e);
                    Outcome::Fatal
                }
            }
        }
        Target::Webhook {
            url,
            format,
            secret,
            ..
        } => match webhook::prepare_in(
            sub.language,
            &payload,
            *format,
            url,
            secret.as_ref(),
            &templates,
            &id,
            now,
        ) {
            Ok(req) => output::stdout(|out| {
                writeln!(out, "POST {}", deliver::redacted(url))?;
                for (k, v) in &req.headers {
                    writeln!(out, "{k}: {v}")?;
                }
                writeln!(out)?;
                out.write_all(&req.body)?;
                writeln!(out)
            }),
            Err(e) => {
                output::error(e);
                Outcome::Fatal
            }
        },
    }
}
