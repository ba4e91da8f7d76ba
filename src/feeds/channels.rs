//! Which feeds a blog has and which posts each shows: the whole blog, each
//! tag and each author (`by_tag`, `by_author`), newest first, at most
//! `limit` posts. One code path for all three kinds (as zola's
//! `render_feeds`): only titles and folders differ.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::memory::FastMap;
use crate::model::{Author, Post, Tag};
use crate::posts::lodash::kebab_case;
use crate::posts::tags::permalink_problem;

use super::ChannelKind;

/// One feed channel before rendering: which posts, in which folder.
pub struct ChannelPlan<'p> {
    pub kind: ChannelKind,
    pub title: String,
    pub description: String,
    pub page_url: String,
    pub dir: String,
    pub posts: Vec<&'p Post>,
}

/// Tag and author feeds one blog may have together. A large engineering
/// blog has some 300 tags and 2,000 authors; past this, feeds of the tags
/// and authors with the fewest posts are dropped (with a warning), so that
/// a blog cannot make a build write without bound.
pub const MAX_CHANNELS: usize = 10_000;

pub fn plan_channels<'p>(
    config: &BlogConfig,
    published: &[&'p Post],
    problems: &mut Vec<Diagnostic>,
) -> Vec<ChannelPlan<'p>> {
    let limit = config.limit;
    let mut plans = vec![ChannelPlan {
        kind: ChannelKind::Blog,
        title: config.title.clone(),
        description: config.description.clone(),
        page_url: config.site_link(&config.blog_route("")),
        dir: String::new(),
        posts: published.iter().copied().take(limit).collect(),
    }];
    // Each candidate with the number of posts it has, to drop the smallest
    // when there are too many.
    let mut candidates: Vec<(usize, ChannelPlan<'p>)> = Vec::new();
    if config.by_tag {
        // Docusaurus groups by permalink; the first tag seen names the group.
        let tags = group(
            published,
            |p| &p.tags,
            |t: &Tag| Some(t.permalink.as_str()),
            false,
        );
        let mut dirs: HashMap<String, &str> = HashMap::new();
        for (permalink, tag, posts) in tags {
            // The loader rejects such permalinks; this keeps a folder name
            // that climbs out of `tags/` from ever reaching the writer.
            if permalink_problem(permalink).is_some() {
                continue;
            }
            let dir = format!("tags/{}", tag.slug());
            if let Some(other) = dirs.insert(dir.clone(), permalink) {
                problems.push(Diagnostic::warning(
                    &config.file,
                    format!("tags {other} and {permalink} would share the feed folder {dir}; only the first gets feeds"),
                ));
                dirs.insert(dir, other);
                continue;
            }
            let count = posts.len();
            candidates.push((
                count,
                ChannelPlan {
                    kind: ChannelKind::Tag,
                    title: format!("{} – {}", config.title, tag.label),
                    description: tag.description.clone().unwrap_or_else(|| {
                        format!("Posts tagged “{}” on {}", tag.label, config.title)
                    }),
                    page_url: config.site_link(permalink),
                    dir,
                    posts: newest(&posts, limit),
                },
            ));
        }
    }
    if config.by_author {
        // A post that names one author twice is shown once.
        let authors = group(published, |p| &p.authors, author_key, true);
        for (key, author, posts) in authors {
            let page_url = author
                .page
                .as_deref()
                .map(|p| config.site_link(p))
                .or_else(|| author.url.clone().filter(|u| u.starts_with("http")))
                .unwrap_or_else(|| config.site_link(&config.blog_route("")));
            let count = posts.len();
            candidates.push((
                count,
                ChannelPlan {
                    kind: ChannelKind::Author,
                    title: format!("{} – {}", config.title, author.display_name()),
                    description: format!("Posts by {} on {}", author.display_name(), config.title),
                    page_url,
                    dir: format!("authors/{key}"),
                    posts: newest(&posts, limit),
                },
            ));
        }
    }
    if candidates.len() > MAX_CHANNELS {
        // Most posts first; a stable sort keeps tags before authors and
        // each in name order among equals.
        candidates.sort_by_key(|(count, _)| std::cmp::Reverse(*count));
        let dropped: Vec<String> = candidates
            .drain(MAX_CHANNELS..)
            .map(|(_, plan)| plan.dir)
            .collect();
        let shown: Vec<&str> = dropped.iter().take(10).map(String::as_str).collect();
        problems.push(Diagnostic::warning(
            &config.file,
            format!(
                "the blog has {} tag and author feeds, more than the {MAX_CHANNELS} postbode writes; the {} with the fewest posts get no feed ({}{}). Merge rare tags, or set by_tag/by_author = false",
                MAX_CHANNELS + dropped.len(),
                dropped.len(),
                shown.join(", "),
                if dropped.len() > shown.len() { ", …" } else { "" },
            ),
        ));
        // Back in the order feeds are listed: tags, then authors, by name.
        candidates.sort_by(|(_, a), (_, b)| {
            (a.kind != ChannelKind::Tag, &a.dir).cmp(&(b.kind != ChannelKind::Tag, &b.dir))
        });
    }
    plans.extend(candidates.into_iter().map(|(_, plan)| plan));
    plans
}

/// The folder name of an author's feeds: the `authors.yml` key, or for an
/// inline author without key, the kebab-cased name.
fn author_key(author: &Author) -> Option<String> {
    author
        .key
        .clone()
        .or_else(|| author.name.as_deref().map(kebab_case))
        .filter(|k| !k.is_empty() && !k.contains(['/', '\\']) && k != "." && k != "..")
}

/// The posts of each key of their tags (or authors), in key order, each
/// group named by the first value seen with its key; with `once`, a post
/// whose values share a key is in its group once. Posts share their
/// values: each distinct value's key is found once, not once per post
/// (a 50,000-post blog names its tags some 300,000 times).
fn group<'p, T, K: Ord + Hash + Eq + Clone>(
    published: &[&'p Post],
    values: impl Fn(&'p Post) -> &'p [Arc<T>],
    key: impl Fn(&'p T) -> Option<K>,
    once: bool,
) -> Vec<(K, &'p T, Vec<&'p Post>)> {
    let mut groups: Vec<(K, &'p T, Vec<&'p Post>)> = Vec::new();
    let mut by_key: FastMap<K, usize> = FastMap::default();
    // The group of each value seen (None: it has no key).
    let mut by_value: FastMap<*const T, Option<usize>> = FastMap::default();
    for p in published {
        for value in values(p) {
            let at = *by_value.entry(Arc::as_ptr(value)).or_insert_with(|| {
                let k = key(value)?;
                Some(*by_key.entry(k).or_insert_with_key(|k| {
                    groups.push((k.clone(), &**value, Vec::new()));
                    groups.len() - 1
                }))
            });
            let Some(at) = at else { continue };
            let posts = &mut groups[at].2;
            if !(once && posts.last().is_some_and(|last| std::ptr::eq(*last, *p))) {
                posts.push(p);
            }
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
}

/// The first `limit` of a channel's posts, in a vector of their own (taken
/// from `into_iter`, they would keep the room of all of its posts).
fn newest<'p>(posts: &[&'p Post], limit: usize) -> Vec<&'p Post> {
    posts[..posts.len().min(limit)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::test_support::posts;
    use std::sync::Arc;

    fn config() -> BlogConfig {
        let toml = "title = \"T\"\nsite_url = \"https://example.org\"\nsource = \"blog\"\noutput = \"out\"\nby_tag = true\nby_author = false\n";
        crate::config::parse(toml, std::path::Path::new("/srv/feeds/t.toml")).unwrap()
    }

    fn tag(slug: &str) -> Arc<Tag> {
        Arc::new(Tag {
            key: slug.into(),
            label: slug.into(),
            permalink: format!("/blog/tags/{slug}"),
            description: None,
            inline: false,
        })
    }

    #[test]
    fn past_the_channel_limit_the_tags_with_fewest_posts_get_no_feed_and_a_warning() {
        let mut all = posts();
        // One popular tag on every post, and more rare ones than the limit.
        for p in &mut all {
            p.tags = vec![tag("popular")];
        }
        all[0]
            .tags
            .extend((0..MAX_CHANNELS).map(|i| tag(&format!("rare-{i:05}"))));
        let published: Vec<&Post> = all.iter().collect();
        let mut problems = Vec::new();
        let plans = plan_channels(&config(), &published, &mut problems);
        assert_eq!(plans.len(), 1 + MAX_CHANNELS);
        assert!(plans.iter().any(|p| p.dir == "tags/popular"));
        assert!(!plans.iter().any(|p| p.dir == "tags/rare-09999"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        let message = &problems[0].message;
        assert!(
            message.contains("10001 tag and author feeds") && message.contains("tags/rare-09999"),
            "{message}"
        );
    }

    #[test]
    fn a_tag_whose_permalink_climbs_out_gets_no_channel() {
        let mut all = posts();
        for p in &mut all {
            p.tags = vec![tag(".."), tag("ok")];
        }
        let published: Vec<&Post> = all.iter().collect();
        let plans = plan_channels(&config(), &published, &mut Vec::new());
        let dirs: Vec<&str> = plans.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["", "tags/ok"]);
    }

    #[test]
    fn tags_group_by_permalink_whether_or_not_posts_share_the_value() {
        let mut all = posts();
        assert!(all.len() >= 3);
        let shared = tag("api");
        let mut other = (*tag("api")).clone();
        other.label = "Api (second spelling)".into();
        let other = Arc::new(other);
        all[0].tags = vec![Arc::clone(&shared), tag("zeta")];
        all[1].tags = vec![Arc::clone(&other)];
        all[2].tags = vec![Arc::clone(&shared), tag("alpha")];
        let published: Vec<&Post> = all.iter().collect();
        let plans = plan_channels(&config(), &published, &mut Vec::new());
        let dirs: Vec<&str> = plans.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["", "tags/alpha", "tags/api", "tags/zeta"]);
        let api = &plans[2];
        let sources: Vec<&str> = api.posts.iter().map(|p| p.source.as_str()).collect();
        let expected: Vec<&str> = all[..3].iter().map(|p| p.source.as_str()).collect();
        assert_eq!(sources, expected, "every post of the permalink, in order");
        assert!(
            api.title.ends_with("– api"),
            "named by the first seen: {}",
            api.title
        );
    }

    #[test]
    fn a_post_that_names_one_author_twice_is_in_the_authors_feed_once() {
        let toml = "title = \"T\"\nsite_url = \"https://example.org\"\nsource = \"blog\"\noutput = \"out\"\nby_tag = false\nby_author = true\n";
        let config = crate::config::parse(toml, std::path::Path::new("/srv/feeds/t.toml")).unwrap();
        let mut all = posts();
        let anna = |name: &str| {
            Arc::new(Author {
                key: Some("anna".into()),
                name: Some(name.into()),
                ..Author::default()
            })
        };
        let (one, two) = (anna("Anna"), anna("Anna B."));
        for p in &mut all {
            p.authors = vec![Arc::clone(&one), Arc::clone(&two)];
        }
        let published: Vec<&Post> = all.iter().collect();
        let plans = plan_channels(&config, &published, &mut Vec::new());
        let dirs: Vec<&str> = plans.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["", "authors/anna"]);
        assert_eq!(plans[1].posts.len(), all.len().min(config.limit));
        assert!(plans[1].title.ends_with("– Anna"), "{}", plans[1].title);
    }
}
