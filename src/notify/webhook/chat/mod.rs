//! What the chat templates (`templates/webhook/{slack,teams,mattermost,discord}.json`)
//! get to work with. A template only arranges; the text it prints is made
//! ready here, per format, because each chat has its own markup and its own
//! limits and a user's override should not have to know them:
//!
//! - every `*_md` field is escaped for the format's markup (Slack mrkdwn:
//!   `&`, `<`, `>` as entities; Mattermost and Discord Markdown: a backslash
//!   before `\ * _ ~ ` | [ ] < >`; Mattermost also breaks `@` mentions with a
//!   zero-width space; Teams' Adaptive Card Markdown: a backslash before
//!   `\ * _ ` ~ [ ] ( ) <`, and before `# - + > = |` at the start of a line
//!   and the `.` of a leading `1.`, see `markup.rs`);
//! - text is cut (with `…`, at a word where one is near) to the platform's
//!   limits, counted in UTF-16 code units, which is never less than what
//!   Slack or Discord count: Slack headers 150 and section text 3000
//!   characters; Discord embed titles 256, descriptions 4096 and all embeds
//!   of a message together 6000; Mattermost messages 16383;
//! - a digest shows at most as many posts as the platform allows (Slack: 50
//!   blocks a message, Discord: 10 embeds) and says how many more there are.
//!
//! The context, as the templates see it (every key always present):
//!
//! ```text
//! format, language ("nl"|"en"), kind ("post.published"|"posts.digest"), digest (bool),
//! message_id, now (RFC 3339),
//! blog: {name, title, title_md, url, url_md, feed_url},
//! heading ("Nieuw bericht op Blog"; ≤ 150), heading_md, fallback (one line, in markup),
//! post (the post, or null for a digest), posts [shown posts], total, more (not shown),
//! more_md ("…en nog 3 berichten: <link>", or ""),
//! labels: {read_post, all_posts, tags, authors, date},
//! post/posts[i]: {title, title_md, url, url_md, summary?, summary_md?, date (RFC 3339),
//!   date_text ("15 juli 2025"), authors [..], authors_text ("A, B en C"),
//!   meta ("15 juli 2025 · A en B"), meta_md (the same in markup, plus linked tags
//!   where the format has links: not Teams, which shows tags_md on its own),
//!   tags [{key, label, label_md, url, url_md}], tags_text, tags_md (linked), image?}
//! ```

mod markup;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::config::subscribers::{Language, WebhookFormat};
use crate::notify::{BlogInfo, Payload, PostSnapshot};
use markup::{Limits, Markup, fit, style, units};

#[derive(Debug, Serialize)]
pub(super) struct Context {
    format: &'static str,
    language: &'static str,
    kind: &'static str,
    digest: bool,
    message_id: String,
    now: String,
    blog: Blog,
    heading: String,
    heading_md: String,
    fallback: String,
    post: Option<Post>,
    posts: Vec<Post>,
    total: usize,
    more: usize,
    more_md: String,
    labels: Labels,
}

#[derive(Debug, Serialize)]
struct Blog {
    name: String,
    title: String,
    title_md: String,
    url: String,
    url_md: String,
    feed_url: String,
}

#[derive(Debug, Clone, Serialize)]
struct Post {
    title: String,
    title_md: String,
    url: String,
    url_md: String,
    summary: Option<String>,
    summary_md: Option<String>,
    date: String,
    date_text: String,
    authors: Vec<String>,
    authors_text: String,
    meta: String,
    meta_md: String,
    tags: Vec<Tag>,
    tags_text: String,
    tags_md: String,
    image: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Tag {
    key: String,
    label: String,
    label_md: String,
    url: String,
    url_md: String,
}

#[derive(Debug, Serialize)]
struct Labels {
    read_post: &'static str,
    all_posts: &'static str,
    tags: &'static str,
    authors: &'static str,
    date: &'static str,
}

fn labels(language: Language) -> Labels {
    match language {
        Language::Nl => Labels {
            read_post: "Lees het bericht",
            all_posts: "Alle berichten",
            tags: "Tags",
            authors: "Auteurs",
            date: "Datum",
        },
        Language::En => Labels {
            read_post: "Read the post",
            all_posts: "All posts",
            tags: "Tags",
            authors: "Authors",
            date: "Date",
        },
    }
}

/// `15 juli 2025`: the UTC day, as the feeds show it (Docusaurus: a
/// date-only front matter date is UTC midnight).
fn date_text(date: DateTime<Utc>, language: Language) -> String {
    crate::templates::day_text(date.date_naive(), language)
}

/// `A`, `A en B`, `A, B en C` (`and` in English).
fn join_names(names: &[String], language: Language) -> String {
    let and = match language {
        Language::Nl => " en ",
        Language::En => " and ",
    };
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{}{and}{last}", rest.join(", ")),
    }
}

/// `Nieuw bericht op ` / `3 new posts on `: the heading, before the blog's title.
fn heading_lead(count: usize, language: Language) -> String {
    match (language, count) {
        (Language::Nl, 1) => "Nieuw bericht op ".into(),
        (Language::Nl, n) => format!("{n} nieuwe berichten op "),
        (Language::En, 1) => "New post on ".into(),
        (Language::En, n) => format!("{n} new posts on "),
    }
}

fn more_text(more: usize, language: Language) -> String {
    match (language, more) {
        (_, 0) => String::new(),
        (Language::Nl, 1) => "…en nog 1 bericht".into(),
        (Language::Nl, n) => format!("…en nog {n} berichten"),
        (Language::En, 1) => "…and 1 more post".into(),
        (Language::En, n) => format!("…and {n} more posts"),
    }
}

/// Tags as links, separated by commas, as many as fit in `max`.
fn tags_md(tags: &[Tag], max: usize, markup: Markup) -> String {
    let mut out = String::new();
    for (i, tag) in tags.iter().enumerate() {
        let link = markup.link(&tag.label_md, &tag.url, false);
        let sep = if i == 0 { "" } else { ", " };
        if units(&out) + units(sep) + units(&link) + 2 > max {
            out.push_str(if i == 0 { "…" } else { ", …" });
            break;
        }
        out.push_str(sep);
        out.push_str(&link);
    }
    out
}

fn post(
    p: &PostSnapshot,
    markup: Markup,
    limits: &Limits,
    summary_limit: usize,
    language: Language,
) -> Post {
    let (title, title_md) = fit(p.title.trim(), limits.title, markup);
    let url_md = markup.url(&p.url);
    let names = join_names(&p.authors, language);
    let (authors_text, authors_md) = fit(&names, limits.authors, markup);
    let tags: Vec<Tag> = p
        .tags
        .iter()
        .map(|t| Tag {
            key: t.key.clone(),
            label: t.label.clone(),
            label_md: markup.escape(&t.label),
            url: t.url.clone(),
            url_md: markup.url(&t.url),
        })
        .collect();
    let tags_text = tags
        .iter()
        .map(|t| t.label.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let (tags_text, _) = fit(&tags_text, limits.tags, Markup::Plain);
    let tags_md = tags_md(&tags, limits.tags, markup);
    let mut summary_limit = summary_limit;
    if let Some(section) = limits.section {
        // `*<url|title>*\n` comes first in the same text.
        let link = units(&title_md) + units(&url_md) + 8;
        summary_limit = summary_limit.min(section.saturating_sub(link));
    }
    let summary = p
        .summary
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && summary_limit > 1)
        .map(|s| fit(s, summary_limit, markup));
    let date_text = date_text(p.date, language);
    let mut meta = date_text.clone();
    let mut meta_md = markup.escape(&date_text);
    if !authors_text.is_empty() {
        meta.push_str(" · ");
        meta.push_str(&authors_text);
        meta_md.push_str(" · ");
        meta_md.push_str(&authors_md);
    }
    if !tags_md.is_empty() && markup.has_links() {
        meta_md.push_str(" · ");
        meta_md.push_str(&tags_md);
    }
    Post {
        title,
        title_md,
        url: p.url.clone(),
        url_md,
        summary_md: summary.as_ref().map(|(_, md)| md.clone()),
        summary: summary.map(|(raw, _)| raw),
        date: p.date.to_rfc3339_opts(SecondsFormat::Secs, true),
        date_text,
        authors: p.authors.clone(),
        authors_text,
        meta,
        meta_md,
        tags,
        tags_text,
        tags_md,
        image: p
            .image
            .clone()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
    }
}

/// Builds the template context for a chat `format`.
pub(super) fn context(
    payload: &Payload,
    format: WebhookFormat,
    language: Language,
    message_id: &str,
    now: DateTime<Utc>,
) -> Context {
    let (markup, limits) = style(format);
    let BlogInfo {
        name,
        title: blog_title,
        url: blog_url,
        feed_url,
    } = &payload.blog;
    let total = payload.posts.len();
    let digest = total > 1;
    let shown = &payload.posts[..total.min(limits.max_posts)];
    let more = total - shown.len();

    // Lay out the posts without summaries first to see what room is left
    // for them within the message's budget.
    let per_post_summary = if digest {
        limits.digest_summary
    } else {
        limits.summary
    };
    let bare: Vec<Post> = shown
        .iter()
        .map(|p| post(p, markup, &limits, 0, language))
        .collect();
    let posts: Vec<Post> = shown
        .iter()
        .zip(&bare)
        .map(|(p, bare)| {
            let room = match limits.budget {
                Some(budget) => {
                    let fixed = units(&bare.title_md)
                        + units(&bare.url_md)
                        + units(&bare.meta_md)
                        + units(blog_title)
                        + 40;
                    (budget / shown.len().max(1)).saturating_sub(fixed)
                }
                None => usize::MAX,
            };
            post(p, markup, &limits, per_post_summary.min(room), language)
        })
        .collect();

    let (blog_title_cut, blog_title_md) = fit(blog_title, 100, markup);
    let lead = heading_lead(total, language);
    let heading_text = format!("{lead}{blog_title_cut}");
    let heading_md = match markup {
        Markup::Slack => format!(
            "{}{}",
            markup.escape(&lead),
            markup.link(&blog_title_md, blog_url, true)
        ),
        _ => format!("{}{}", markup.escape(&lead), markup.bold(&blog_title_md)),
    };
    let fallback = match posts.first() {
        Some(p) if !digest => match markup {
            Markup::Plain => format!("{heading_text}: {}", p.title),
            Markup::Card => format!("{heading_md}: {}", p.title_md),
            _ => format!("{heading_md}: {}", markup.link(&p.title_md, &p.url, true)),
        },
        _ => heading_md.clone(),
    };
    let more_md = if more == 0 {
        String::new()
    } else if !markup.has_links() {
        markup.escape(&more_text(more, language))
    } else {
        let all = markup.escape(labels(language).all_posts);
        format!(
            "{}: {}",
            markup.escape(&more_text(more, language)),
            markup.link(&all, blog_url, true)
        )
    };
    Context {
        format: format.name(),
        language: language.code(),
        kind: if digest {
            "posts.digest"
        } else {
            "post.published"
        },
        digest,
        message_id: message_id.to_string(),
        now: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        blog: Blog {
            name: name.clone(),
            title: blog_title.clone(),
            title_md: blog_title_md,
            url: blog_url.clone(),
            url_md: markup.url(blog_url),
            feed_url: feed_url.clone(),
        },
        heading: fit(&heading_text, 150, Markup::Plain).0,
        heading_md,
        fallback,
        post: if digest { None } else { posts.first().cloned() },
        posts,
        total,
        more,
        more_md,
        labels: labels(language),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_dates_read_naturally_in_both_languages() {
        let names: Vec<String> = ["Ann", "Bo", "Cas"].map(String::from).to_vec();
        assert_eq!(join_names(&names, Language::Nl), "Ann, Bo en Cas");
        assert_eq!(join_names(&names[..2], Language::En), "Ann and Bo");
        assert_eq!(join_names(&names[..1], Language::En), "Ann");
        let date = "2025-07-15T23:30:00Z".parse().unwrap();
        assert_eq!(date_text(date, Language::Nl), "15 juli 2025");
        assert_eq!(date_text(date, Language::En), "15 July 2025");
        assert_eq!(heading_lead(3, Language::Nl), "3 nieuwe berichten op ");
        assert_eq!(more_text(1, Language::En), "…and 1 more post");
    }
}
