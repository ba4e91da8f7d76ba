//! Deciding what is new, purely: given the posts as they are now, the posts
//! the state remembers and the subscribers, which posts to announce and to
//! whom. No I/O here, so every rule is a unit test.
//!
//! A post is announced once, when it first becomes published. Posts are
//! identified robustly, because real blogs move files around: a draft moved
//! from `blog/draft/x.md` to `blog/2025/07/15-x.md`, a date fixed in the file
//! name or a retitled post is still the same post.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::config::subscribers::{Filter, Subscriber};
use crate::model::Post;
use crate::state::SeenPost;

/// One post to announce, to these subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// Index into the posts given to [`plan`].
    pub post: usize,
    pub key: String,
    pub subscribers: Vec<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every post to remember, with the key it is known by and whether it
    /// counts as announced (first run: everything already published does).
    pub seen: Vec<SeenPost>,
    pub announce: Vec<Announce>,
}

/// The stable part of a post's file name: without folders, date prefix,
/// extension and `/index`. `draft/x.md`, `2025/07/15-x.md`, `2025-07-15-x.mdx`
/// and `2025-07-15-x/index.md` are all `x`.
pub fn post_key(source: &str) -> String {
    let without_ext = source
        .strip_suffix(".mdx")
        .or_else(|| source.strip_suffix(".md"))
        .unwrap_or(source);
    let without_index = without_ext.strip_suffix("/index").unwrap_or(without_ext);
    let name = without_index.rsplit('/').next().unwrap_or(without_index);
    strip_date_prefix(name).to_lowercase()
}

/// `2025-07-15-x` -> `x`; `15-x` (day of a `YYYY/MM/` folder) -> `x`.
fn strip_date_prefix(name: &str) -> &str {
    let parts: Vec<&str> = name.splitn(4, '-').collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if parts.len() == 4 && parts[0].len() == 4 && parts[..3].iter().all(|p| numeric(p)) {
        return parts[3];
    }
    match name.split_once('-') {
        Some((day, rest)) if numeric(day) && day.len() <= 2 && !rest.is_empty() => rest,
        _ => name,
    }
}

fn normalize_title(title: &str) -> String {
    title
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether a subscriber's filter takes a post. Tags match by key or label,
/// authors by key or name, all case-insensitively.
pub fn matches(filter: &Filter, post: &Post) -> bool {
    let has_tag = |wanted: &String| {
        post.tags
            .iter()
            .any(|t| t.key.to_lowercase() == *wanted || t.label.to_lowercase() == *wanted)
    };
    if !filter.all_tags.iter().all(has_tag) || filter.exclude_tags.iter().any(has_tag) {
        return false;
    }
    let by = |wanted: &String| {
        post.authors.iter().any(|a| {
            a.key
                .as_deref()
                .is_some_and(|k| k.to_lowercase() == *wanted)
                || a.name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase() == *wanted)
        })
    };
    let tagged = filter.any_tags.as_ref().map(|any| any.iter().any(has_tag));
    let authored = (!filter.authors.is_empty()).then(|| filter.authors.iter().any(by));
    match (tagged, authored) {
        (Some(t), Some(a)) if filter.tags_or_authors => t || a,
        (t, a) => t.unwrap_or(true) && a.unwrap_or(true),
    }
}

/// Plans one run. `first_run`: the state has no history for this blog, so
/// what is published already is recorded as announced and nothing is sent,
/// except posts published since `backfill_since`. `disabled` subscribers
/// (a webhook answered 410) get nothing.
pub fn plan(
    posts: &[Post],
    now: DateTime<Utc>,
    known: &[SeenPost],
    first_run: bool,
    backfill_since: Option<DateTime<Utc>>,
    subscribers: &[Subscriber],
    disabled: &[String],
) -> Plan {
    // Two live posts can share a name (`2025/07/17-weekly.md`,
    // `2025/07/24-weekly.md`): those are keyed by their whole path instead.
    let base_keys: Vec<String> = posts.iter().map(|p| post_key(&p.source)).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for k in &base_keys {
        *counts.entry(k.as_str()).or_default() += 1;
    }
    let keys: Vec<String> = posts
        .iter()
        .zip(&base_keys)
        .map(|(p, k)| {
            if counts[k.as_str()] > 1 {
                p.source
                    .trim_end_matches(".mdx")
                    .trim_end_matches(".md")
                    .to_lowercase()
            } else {
                k.clone()
            }
        })
        .collect();
    let current: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
    let by_key: HashMap<&str, &SeenPost> = known.iter().map(|k| (k.key.as_str(), k)).collect();
    // A match by permalink or title only counts when the known post is gone
    // under its own key (it moved), and each known post matches one live
    // post at most: exact keys and permalinks first, titles last.
    let mut claimed: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut previous: Vec<Option<&SeenPost>> = vec![None; posts.len()];
    for (i, post) in posts.iter().enumerate() {
        let found = by_key.get(keys[i].as_str()).copied().or_else(|| {
            known
                .iter()
                .find(|k| k.permalink == post.permalink && !current.contains(k.key.as_str()))
        });
        if let Some(k) = found.filter(|k| claimed.insert(k.key.as_str())) {
            previous[i] = Some(k);
        }
    }
    for (i, post) in posts.iter().enumerate() {
        if previous[i].is_some() {
            continue;
        }
        let title = normalize_title(&post.title);
        if title.is_empty() {
            continue;
        }
        let found = known.iter().find(|k| {
            !current.contains(k.key.as_str())
                && !claimed.contains(k.key.as_str())
                && normalize_title(&k.title) == title
        });
        if let Some(k) = found {
            claimed.insert(k.key.as_str());
            previous[i] = Some(k);
        }
    }
    let mut out = Plan::default();
    for (i, post) in posts.iter().enumerate() {
        let previous = previous[i];
        // A known post keeps the key it was first seen under, so its identity
        // survives any number of moves.
        let key = previous.map_or_else(|| keys[i].clone(), |p| p.key.clone());
        let published = post.is_published(now);
        let backfill = published && backfill_since.is_some_and(|since| post.date >= since);
        let already = previous.is_some_and(|p| p.announced);
        let announce = published && (backfill || (!already && !first_run));
        out.seen.push(SeenPost {
            key: key.clone(),
            permalink: post.permalink.clone(),
            title: post.title.clone(),
            announced: already || published,
        });
        if announce {
            let subscribers = subscribers
                .iter()
                .filter(|s| !disabled.contains(&s.id) && matches(&s.filter, post))
                .map(|s| s.id.clone())
                .collect();
            out.announce.push(Announce {
                post: i,
                key,
                subscribers,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::subscribers::{Digest, Language, Target};
    use crate::model::{Author, Tag};
    use chrono::TimeZone;
    use std::sync::Arc;

    fn date(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    fn post(
        source: &str,
        title: &str,
        d: DateTime<Utc>,
        tags: &[(&str, &str)],
        author: &str,
    ) -> Post {
        Post {
            source: source.into(),
            permalink: format!("/blog/{}", source.trim_end_matches(".md")),
            url: format!("https://x.nl/blog/{}", source.trim_end_matches(".md")),
            date: d,
            title: title.into(),
            description: None,
            tags: tags
                .iter()
                .map(|(k, l)| {
                    Arc::new(Tag {
                        key: k.to_string(),
                        label: l.to_string(),
                        permalink: format!("/blog/tags/{k}"),
                        description: None,
                        inline: false,
                    })
                })
                .collect(),
            authors: vec![Arc::new(Author {
                key: Some(author.into()),
                name: Some(author.to_uppercase()),
                ..Author::default()
            })],
            draft: false,
            unlisted: false,
            image: None,
            body_line: 1,
        }
    }

    fn sub(id: &str, filter: Filter) -> Subscriber {
        Subscriber {
            id: id.into(),
            target: Target::Email {
                address: format!("{id}@x.nl"),
            },
            filter,
            digest: Digest::None,
            language: Language::Nl,
            origin: Default::default(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_lowercase()).collect()
    }

    #[test]
    fn keys_survive_moves_out_of_draft_and_date_fixes() {
        for source in [
            "draft/nederlandse-digitaliseringsstrategie.md",
            "2025/07/15-nederlandse-digitaliseringsstrategie.md",
            "2025/07/nederlandse-digitaliseringsstrategie.md",
            "2025-07-15-nederlandse-digitaliseringsstrategie.mdx",
            "2025-07-15-nederlandse-digitaliseringsstrategie/index.md",
        ] {
            assert_eq!(
                post_key(source),
                "nederlandse-digitaliseringsstrategie",
                "{source}"
            );
        }
        assert_eq!(
            post_key("2024/09/30-pros-cons-programmeertalen.md"),
            "pros-cons-programmeertalen"
        );
        assert_eq!(
            post_key("2026/07/2-tools-in-the-loop.md"),
            "tools-in-the-loop"
        );
        assert_eq!(
            post_key("graphql-2-flexibiliteit.md"),
            "graphql-2-flexibiliteit"
        );
    }

    #[test]
    fn filters_combine_any_all_exclude_and_authors_case_insensitively() {
        let p = post(
            "2025/01/01-a.md",
            "A",
            date(2025, 1, 1),
            &[("api", "API"), ("rest", "REST API design")],
            "anna",
        );
        let f = |any: Option<&[&str]>, all: &[&str], ex: &[&str], au: &[&str]| Filter {
            any_tags: any.map(strings),
            all_tags: strings(all),
            exclude_tags: strings(ex),
            authors: strings(au),
            tags_or_authors: false,
        };
        // The subscribe page's choice: these tags, or these authors.
        let either = |any: &[&str], au: &[&str]| Filter {
            tags_or_authors: true,
            ..f(Some(any), &[], &[], au)
        };
        assert!(matches(&either(&["ai"], &["anna"]), &p), "by anna");
        assert!(matches(&either(&["api"], &["bob"]), &p), "tagged api");
        assert!(!matches(&either(&["ai"], &["bob"]), &p), "neither");
        assert!(
            !matches(&f(Some(&["ai"]), &[], &[], &["anna"]), &p),
            "both needed"
        );
        assert!(
            matches(&f(None, &[], &[], &[]), &p),
            "no filter: everything"
        );
        assert!(
            matches(&f(Some(&["AI", "Api"]), &[], &[], &[]), &p),
            "any, by key"
        );
        assert!(
            matches(&f(Some(&["rest api DESIGN"]), &[], &[], &[]), &p),
            "any, by label"
        );
        assert!(!matches(&f(Some(&["ai"]), &[], &[], &[]), &p));
        assert!(
            matches(&f(None, &["api", "rest"], &[], &[]), &p),
            "all present"
        );
        assert!(
            !matches(&f(None, &["api", "ai"], &[], &[]), &p),
            "one missing"
        );
        assert!(
            !matches(&f(Some(&["api"]), &[], &["REST"], &[]), &p),
            "exclude wins"
        );
        assert!(matches(&f(None, &[], &[], &["Anna"]), &p), "author key");
        assert!(matches(&f(None, &[], &[], &["anna"]), &p));
        assert!(!matches(&f(None, &[], &[], &["bob"]), &p));
        assert!(
            !matches(&f(Some(&["api"]), &[], &[], &["bob"]), &p),
            "tags and authors both apply"
        );
    }

    #[test]
    fn the_first_run_records_everything_and_announces_nothing_but_the_backfill() {
        let posts = vec![
            post("2025/01/01-old.md", "Old", date(2025, 1, 1), &[], "a"),
            post("2025/06/01-recent.md", "Recent", date(2025, 6, 1), &[], "a"),
        ];
        let subs = vec![sub("s", Filter::default())];
        let p = plan(&posts, date(2025, 7, 1), &[], true, None, &subs, &[]);
        assert!(p.announce.is_empty());
        assert!(p.seen.iter().all(|k| k.announced));
        let p = plan(
            &posts,
            date(2025, 7, 1),
            &[],
            true,
            Some(date(2025, 5, 1)),
            &subs,
            &[],
        );
        assert_eq!(p.announce.len(), 1);
        assert_eq!(p.announce[0].key, "recent");
        assert_eq!(p.announce[0].subscribers, ["s"]);
    }

    #[test]
    fn a_draft_is_announced_when_published_and_a_moved_post_is_not_announced_again() {
        let subs = vec![sub("s", Filter::default())];
        let mut draft = post(
            "draft/nds.md",
            "De gevolgen van de NDS",
            date(2025, 7, 10),
            &[],
            "a",
        );
        draft.draft = true;
        let p1 = plan(&[draft], date(2025, 7, 11), &[], false, None, &subs, &[]);
        assert!(p1.announce.is_empty());
        assert!(!p1.seen[0].announced);

        let published = post(
            "2025/07/15-nds.md",
            "Digitaal samenwerken",
            date(2025, 7, 15),
            &[],
            "a",
        );
        let p2 = plan(
            std::slice::from_ref(&published),
            date(2025, 7, 16),
            &p1.seen,
            false,
            None,
            &subs,
            &[],
        );
        assert_eq!(p2.announce.len(), 1, "announced once it is published");

        let mut moved = published.clone();
        moved.source = "2025/07/16-nds-renamed.md".into();
        moved.permalink = "/blog/2025/07/16/nds-renamed".into();
        let p3 = plan(
            &[moved],
            date(2025, 7, 17),
            &p2.seen,
            false,
            None,
            &subs,
            &[],
        );
        assert!(p3.announce.is_empty(), "same title: the same post, moved");
        assert_eq!(p3.seen[0].key, "nds", "keeps its first key");
    }

    #[test]
    fn a_new_post_with_the_title_of_a_live_post_is_still_new() {
        let subs = vec![sub("s", Filter::default())];
        let first = post("2025/01/01-meetup.md", "Meetup", date(2025, 1, 1), &[], "a");
        let p1 = plan(
            std::slice::from_ref(&first),
            date(2025, 2, 1),
            &[],
            true,
            None,
            &subs,
            &[],
        );
        let second = post(
            "2025/03/01-meetup-maart.md",
            "Meetup",
            date(2025, 3, 1),
            &[],
            "a",
        );
        let p2 = plan(
            &[first, second],
            date(2025, 3, 2),
            &p1.seen,
            false,
            None,
            &subs,
            &[],
        );
        assert_eq!(p2.announce.len(), 1);
        assert_eq!(p2.announce[0].key, "meetup-maart");
    }

    #[test]
    fn two_live_posts_with_the_same_name_are_two_posts() {
        let subs = vec![sub("s", Filter::default())];
        let first = post(
            "2025/07/17-weekly-update.md",
            "Weekly update",
            date(2025, 7, 17),
            &[],
            "a",
        );
        let p1 = plan(
            std::slice::from_ref(&first),
            date(2025, 7, 18),
            &[],
            false,
            None,
            &subs,
            &[],
        );
        assert_eq!(p1.announce.len(), 1);
        let second = post(
            "2025/07/24-weekly-update.md",
            "Weekly update",
            date(2025, 7, 24),
            &[],
            "a",
        );
        let p2 = plan(
            &[second, first],
            date(2025, 7, 25),
            &p1.seen,
            false,
            None,
            &subs,
            &[],
        );
        assert_eq!(
            p2.announce.len(),
            1,
            "the new one is announced, the old one is not"
        );
        assert_eq!(p2.announce[0].post, 0);
        assert_eq!(p2.seen[1].key, "weekly-update", "the old one keeps its key");
        let p3 = plan(&[], date(2025, 7, 26), &p2.seen, false, None, &subs, &[]);
        assert!(p3.announce.is_empty());
    }

    #[test]
    fn future_posts_wait_for_their_date_and_disabled_subscribers_get_nothing() {
        let subs = vec![sub("s", Filter::default()), sub("gone", Filter::default())];
        let future = post("2025/08/01-later.md", "Later", date(2025, 8, 1), &[], "a");
        let p = plan(
            std::slice::from_ref(&future),
            date(2025, 7, 1),
            &[],
            false,
            None,
            &subs,
            &[],
        );
        assert!(p.announce.is_empty());
        let p = plan(
            &[future],
            date(2025, 8, 1),
            &p.seen,
            false,
            None,
            &subs,
            &["gone".into()],
        );
        assert_eq!(p.announce[0].subscribers, ["s"]);
    }
}
