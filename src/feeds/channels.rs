//! Which feeds a blog has and which posts each shows: the whole blog, each
//! tag and each author (`by_tag`, `by_author`), newest first, at most
//! `limit` posts. One code path for all three kinds (as zola's
//! `render_feeds`): only titles and folders differ.

use std::collections::{BTreeMap, HashMap};

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::model::{Author, Post, Tag};
use crate::posts::lodash::kebab_case;

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

pub fn plan_channels<'p>(
    config: &BlogConfig,
    published: &[&'p Post],
    problems: &mut Vec<Diagnostic>,
) -> Vec<ChannelPlan<'p>> {
    let limit = config.limit;
    let take = |it: &mut dyn Iterator<Item = &'p Post>| it.take(limit).collect::<Vec<_>>();
    let mut plans = vec![ChannelPlan {
        kind: ChannelKind::Blog,
        title: config.title.clone(),
        description: config.description.clone(),
        page_url: config.site_link(&config.blog_route("")),
        dir: String::new(),
        posts: take(&mut published.iter().copied()),
    }];
    if config.by_tag {
        // Docusaurus groups by permalink; the first tag seen names the group.
        let mut tags: BTreeMap<&str, &Tag> = BTreeMap::new();
        for p in published {
            for t in &p.tags {
                tags.entry(t.permalink.as_str()).or_insert(t);
            }
        }
        let mut dirs: HashMap<String, &str> = HashMap::new();
        for (permalink, tag) in tags {
            let dir = format!("tags/{}", tag.slug());
            if let Some(other) = dirs.insert(dir.clone(), permalink) {
                problems.push(Diagnostic::warning(
                    &config.file,
                    format!("tags {other} and {permalink} would share the feed folder {dir}; only the first gets feeds"),
                ));
                dirs.insert(dir, other);
                continue;
            }
            plans.push(ChannelPlan {
                kind: ChannelKind::Tag,
                title: format!("{} – {}", config.title, tag.label),
                description: tag
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("Posts tagged “{}” on {}", tag.label, config.title)),
                page_url: config.site_link(permalink),
                dir,
                posts: take(
                    &mut published
                        .iter()
                        .copied()
                        .filter(|p| p.tags.iter().any(|t| t.permalink == permalink)),
                ),
            });
        }
    }
    if config.by_author {
        let mut authors: BTreeMap<String, &Author> = BTreeMap::new();
        for p in published {
            for a in &p.authors {
                if let Some(key) = author_key(a) {
                    authors.entry(key).or_insert(a);
                }
            }
        }
        for (key, author) in authors {
            let page_url = author
                .page
                .as_deref()
                .map(|p| config.site_link(p))
                .or_else(|| author.url.clone().filter(|u| u.starts_with("http")))
                .unwrap_or_else(|| config.site_link(&config.blog_route("")));
            plans.push(ChannelPlan {
                kind: ChannelKind::Author,
                title: format!("{} – {}", config.title, author.display_name()),
                description: format!("Posts by {} on {}", author.display_name(), config.title),
                page_url,
                dir: format!("authors/{key}"),
                posts: take(&mut published.iter().copied().filter(|p| {
                    p.authors
                        .iter()
                        .any(|a| author_key(a).as_deref() == Some(key.as_str()))
                })),
            });
        }
    }
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
