//! `postbode history`: what was sent, when, to whom (the subscriber's id,
//! never its address: the output may be pasted into a ticket), over which
//! channel and with which message id (what the receiver saw as
//! `Message-ID` or `webhook-id`), newest first; a table for people,
//! `--json` one array. It reads an existing state and never creates one.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::cli::output;
use crate::cli::{Outcome, for_each_blog};
use crate::config::BlogConfig;
use crate::notify::message_id;
use crate::state::{HistoryFilter, SentDelivery, StateError, Store};

/// The filter the arguments ask for; a post given as a URL is matched by
/// its path.
pub fn filter(
    subscriber: Option<String>,
    post: Option<String>,
    since: Option<DateTime<Utc>>,
) -> HistoryFilter {
    HistoryFilter {
        subscriber,
        permalink: post.map(|p| permalink_of(&p)),
        since,
    }
}

fn permalink_of(post: &str) -> String {
    match post.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => rest[i..].to_string(),
            None => "/".into(),
        },
        None => post.to_string(),
    }
}

/// A sent delivery with its blog's name and message id.
struct Line {
    blog: String,
    message_id: String,
    sent: SentDelivery,
}

pub async fn run(
    files: &[PathBuf],
    filter: &HistoryFilter,
    json: bool,
    state: Option<&Path>,
) -> Outcome {
    let mut lines: Vec<Line> = Vec::new();
    let outcome = for_each_blog(files, state, async |c| match read(c, filter).await {
        Ok(sent) => {
            lines.extend(sent.into_iter().map(|s| Line {
                blog: c.name.clone(),
                message_id: message_id(c, s.digest_id.unwrap_or(s.id)),
                sent: s,
            }));
            Outcome::Ok
        }
        Err(e) => {
            output::error(e);
            Outcome::Fatal
        }
    })
    .await;
    // Newest first across blogs too.
    lines.sort_by_key(|l| std::cmp::Reverse((l.sent.sent_at, l.sent.id)));
    let printed = if json {
        output::json(&lines.iter().map(line_json).collect::<Vec<_>>())
    } else {
        print_table(&lines)
    };
    outcome.max(printed)
}

async fn read(
    config: &BlogConfig,
    filter: &HistoryFilter,
) -> Result<Vec<SentDelivery>, StateError> {
    let store = Store::open_existing(&config.state).await?;
    let sent = store.history(&config.name, filter).await;
    store.close().await;
    sent
}

fn line_json(l: &Line) -> serde_json::Value {
    let s = &l.sent;
    serde_json::json!({
        "blog": l.blog, "id": s.id, "message_id": l.message_id, "sent_at": s.sent_at,
        "subscriber": s.subscriber, "channel": s.channel, "post": s.post_key,
        "permalink": s.permalink, "title": s.title, "attempts": s.attempts,
        "digest": s.digest_id,
    })
}

fn print_table(lines: &[Line]) -> Outcome {
    if lines.is_empty() {
        output::note("nothing sent (that matches)");
        return Outcome::Ok;
    }
    let printed = output::stdout(|out| {
        writeln!(
            out,
            "{:<20}  {:<6}  {:<20}  {:<7}  {:<40}  MESSAGE ID",
            "SENT", "ID", "SUBSCRIBER", "CHANNEL", "POST"
        )?;
        for l in lines {
            let s = &l.sent;
            writeln!(
                out,
                "{:<20}  {:<6}  {:<20}  {:<7}  {:<40}  {}",
                s.sent_at.format("%Y-%m-%d %H:%M:%SZ"),
                s.id,
                s.subscriber,
                s.channel,
                s.permalink,
                l.message_id
            )?;
        }
        Ok(())
    });
    output::note(output::count(
        lines.len() as u64,
        "delivery sent",
        "deliveries sent",
    ));
    printed
}
