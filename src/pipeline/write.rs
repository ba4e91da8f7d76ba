//! From loaded posts to files in the output folder, doing again only what
//! changed since the last build: a post is rendered again when its file, a
//! post it links to or an image in the blog changed (else its record in the
//! cache stands), and a feed file is serialised again only when the digest
//! of its inputs – channel, posts, rendered content – changed. Unchanged
//! feeds are neither serialised nor read back.

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::feeds::channels::{ChannelPlan, plan_channels};
use crate::feeds::{self, Channel, Format, Item, OutputDir};
use crate::model::Post;
use crate::posts::cache::{Stamps, post_digest};

use super::cache::{BuildCache, Pack, Parts, RenderRecord};
use super::content::{Rendered, Renderer, content_digest};

/// What [`write_feeds`] wrote.
pub struct Written {
    /// Files whose bytes changed.
    pub count: usize,
    /// Public URLs of the feed files among them.
    pub changed: Vec<String>,
    /// Every file the build wrote or kept.
    pub files: BTreeSet<String>,
}

/// Writes every feed file whose bytes change (unchanged ones are left
/// alone) and removes the files of `written_before` no longer written.
/// `cache` comes in as the last build left it and goes out as the next
/// build may use it.
pub fn write_feeds(
    config: &BlogConfig,
    posts: &[Post],
    now: chrono::DateTime<chrono::Utc>,
    problems: &mut Vec<Diagnostic>,
    written_before: &BTreeSet<String>,
    cache: &mut BuildCache,
    stamps: &Stamps,
    pack: &Pack,
) -> std::io::Result<Written> {
    let clock = std::time::Instant::now();
    let phase = |name: &str| tracing::debug!(phase = name, ms = clock.elapsed().as_millis(), "write");
    let published: Vec<&Post> = posts.iter().filter(|p| p.is_published(now)).collect();
    let plans = plan_channels(config, &published, problems);
    phase("planned");

    let mut shown: Vec<&Post> = plans.iter().flat_map(|p| p.posts.iter().copied()).collect();
    shown.sort_by(|a, b| a.source.cmp(&b.source));
    shown.dedup_by(|a, b| a.source == b.source);

    // A post whose inputs are as its record says renders as it did then.
    let renderer = Renderer::new(config, posts);
    let files_digest = &stamps.others;
    let file_hash = |p: &Post| cache.posts.files.get(&p.source).map(|f| f.meta.hash.as_str());
    let mut old = std::mem::take(&mut cache.renders);
    let still: HashMap<&str, &RenderRecord> = shown
        .iter()
        .filter_map(|p| {
            let record = old.get(&p.source)?;
            let holds = file_hash(p) == Some(record.file_hash.as_str())
                && record.files_digest == *files_digest
                && (record.links.iter()).all(|(path, url)| renderer.index.url_for(path) == *url);
            holds.then_some((p.source.as_str(), record))
        })
        .collect();
    let mut rendered: HashMap<&str, Rendered> = shown
        .par_iter()
        .filter(|p| !still.contains_key(p.source.as_str()))
        .map(|p| (p.source.as_str(), renderer.render(p)))
        .collect();
    phase("rendered changed posts");
    let outputs: HashMap<&str, String> = shown
        .par_iter()
        .map(|p| {
            let src = p.source.as_str();
            let output = match still.get(src) {
                Some(record) => record.output.clone(),
                None => rendered[src].digest(),
            };
            let post = match cache.posts.files.get(src) {
                Some(file) => file.meta.digest.clone(),
                None => post_digest(p),
            };
            (src, item_digest(&post, &output))
        })
        .collect();

    phase("item digests");
    // The feed files whose inputs changed, or that are not there as written.
    let out = OutputDir::new(&config.output);
    let jobs: Vec<(String, usize, Format, String)> = plans
        .iter()
        .enumerate()
        .flat_map(|(i, plan)| {
            let digest = channel_digest(&cache.context, plan, &outputs);
            config.formats.iter().map(move |f| {
                let rel = feeds::feed_path(&plan.dir, *f);
                let digest = format!("{digest}:{f:?}");
                (rel, i, *f, digest)
            })
        })
        .collect();
    let stale: Vec<&(String, usize, Format, String)> = jobs
        .par_iter()
        .filter(|(rel, _, _, digest)| {
            let kept = cache.feeds.get(rel).filter(|(d, _)| d == digest);
            !(written_before.contains(rel)
                && kept.is_some_and(|(_, len)| {
                    let meta = std::fs::metadata(config.output.join(rel));
                    meta.is_ok_and(|m| m.is_file() && m.len() == *len)
                }))
        })
        .collect();

    phase("stale feeds found");
    // Posts those feeds show that were not rendered yet.
    let needed: BTreeSet<usize> = stale.iter().map(|(_, i, _, _)| *i).collect();
    let mut missing: Vec<&Post> = needed
        .iter()
        .flat_map(|i| plans[*i].posts.iter().copied())
        .filter(|p| !rendered.contains_key(p.source.as_str()))
        .collect();
    missing.sort_by(|a, b| a.source.cmp(&b.source));
    missing.dedup_by(|a, b| a.source == b.source);
    // Their content is in the pack, unless it is damaged or gone.
    let unpacked: Vec<(&str, Option<Rendered>)> = missing
        .par_iter()
        .map(|p| (p.source.as_str(), unpack(pack, still[p.source.as_str()])))
        .collect();
    let mut fresh: BTreeSet<&str> = rendered.keys().copied().collect();
    for (src, content) in unpacked {
        let content = content.unwrap_or_else(|| {
            fresh.insert(src);
            let p = missing.iter().find(|p| p.source == src).copied();
            renderer.render(p.expect("a missing post is one of the shown posts"))
        });
        rendered.insert(src, content);
    }

    phase("content unpacked");
    let channels = channels(config, &plans, &rendered);
    let bytes: Vec<(bool, usize)> = stale
        .par_iter()
        .map(|(rel, i, f, _)| {
            let bytes = feeds::render(&channels[*i], *f);
            Ok((out.write_if_changed(rel, &bytes)?, bytes.len()))
        })
        .collect::<std::io::Result<_>>()?;
    let mut count = bytes.iter().filter(|(w, _)| *w).count();
    let changed: Vec<String> = stale
        .iter()
        .zip(&bytes)
        .filter(|(_, (w, _))| *w)
        .map(|((rel, _, _, _), _)| format!("{}/{rel}", config.feeds_url))
        .collect();
    phase("feeds serialised");
    let mut feeds: HashMap<String, (String, u64)> = HashMap::with_capacity(jobs.len());
    for (rel, _, _, digest) in &jobs {
        if let Some(kept) = cache.feeds.remove(rel).filter(|(d, _)| d == digest) {
            feeds.insert(rel.clone(), kept);
        }
    }
    for ((rel, _, _, digest), (_, len)) in stale.iter().zip(&bytes) {
        feeds.insert(rel.clone(), (digest.clone(), *len as u64));
    }

    // What the next build may reuse, and the warnings and assets of all.
    let clean: BTreeSet<&str> = still.into_keys().collect();
    let mut renders = HashMap::with_capacity(shown.len());
    for p in &shown {
        let src = p.source.as_str();
        let kept = clean.contains(src).then(|| old.remove(src)).flatten();
        let record = match (kept, rendered.get(src), file_hash(p)) {
            (Some(record), _, _) => Some(record),
            (None, Some(r), Some(hash)) => Some(RenderRecord {
                file_hash: hash.to_owned(),
                files_digest: files_digest.clone(),
                links: r.links.clone(),
                output: r.digest(),
                warnings: r.warnings.clone(),
                assets: r.assets.clone(),
                at: None,
            }),
            _ => None,
        };
        match (record, rendered.get(src)) {
            (Some(record), _) => {
                renders.insert(p.source.clone(), record);
            }
            (None, Some(r)) => {
                // Not cacheable (its date is not in its file): its
                // assets and warnings count all the same.
                renders.insert(
                    p.source.clone(),
                    RenderRecord {
                        file_hash: String::new(),
                        files_digest: String::new(),
                        links: Vec::new(),
                        output: String::new(),
                        warnings: r.warnings.clone(),
                        assets: r.assets.clone(),
                        at: None,
                    },
                );
            }
            (None, None) => {}
        }
    }
    for record in renders.values() {
        problems.extend(record.warnings.iter().cloned());
    }
    let assets: BTreeSet<(&String, &std::path::PathBuf)> = renders
        .values()
        .flat_map(|r| r.assets.iter().map(|(name, real)| (name, real)))
        .collect();
    let mut keep: BTreeSet<String> = jobs.iter().map(|(rel, _, _, _)| rel.clone()).collect();
    let assets: Vec<(String, &std::path::PathBuf)> = assets
        .into_iter()
        .map(|(name, from)| (format!("assets/{name}"), from))
        .collect();
    let copied: Vec<bool> = assets
        .par_iter()
        .map(|(rel, from)| {
            // Names carry a hash of the content: one the last build wrote
            // and that is still there is this file.
            if written_before.contains(rel) && config.output.join(rel).is_file() {
                return Ok(false);
            }
            out.copy_if_missing(rel, from)
        })
        .collect::<std::io::Result<_>>()?;
    count += copied.iter().filter(|c| **c).count();
    keep.extend(assets.into_iter().map(|(rel, _)| rel));
    phase("assets copied");
    let refs: Vec<&Channel> = channels.iter().collect();
    let opml = feeds::render_opml(&config.title, &refs, &config.formats);
    count += usize::from(out.write_if_changed("feeds.opml", &opml)?);
    let index =
        feeds::render_index_html(&config.title, &config.description, &refs, &config.formats);
    count += usize::from(out.write_if_changed("index.html", &index)?);
    keep.extend(["feeds.opml".to_string(), "index.html".to_string()]);
    for stale in out.remove_stale(&keep, written_before)? {
        tracing::info!(file = %stale, "removed a feed that no longer has posts");
    }
    // A record without a file hash was only there for this build.
    renders.retain(|_, r| !r.file_hash.is_empty());
    let new: Vec<&str> = fresh
        .into_iter()
        .filter(|src| renders.contains_key(*src))
        .collect();
    let contents: Vec<Parts> = new
        .iter()
        .map(|src| {
            let r = &rendered[src];
            (r.html.as_str(), r.summary.as_deref(), r.image_url.as_deref())
        })
        .collect();
    if let Some(at) = pack.append(&contents) {
        for (src, at) in new.iter().zip(at) {
            if let Some(record) = renders.get_mut(*src) {
                record.at = Some(at);
            }
        }
    }
    cache.renders = renders;
    cache.feeds = feeds;
    phase("pack appended");
    tracing::debug!(
        rendered = rendered.len(),
        serialised = stale.len(),
        feeds = jobs.len(),
        "feeds written"
    );
    Ok(Written {
        count,
        changed,
        files: keep,
    })
}

/// A post's content as the record's pack entry holds it, if that is there
/// and is what the record says.
fn unpack(pack: &Pack, record: &RenderRecord) -> Option<Rendered> {
    let c = pack.get(record.at?)?;
    let digest = content_digest(&c.html, c.summary.as_deref(), c.image_url.as_deref());
    (digest == record.output).then(|| Rendered {
        html: c.html,
        summary: c.summary,
        image_url: c.image_url,
        warnings: record.warnings.clone(),
        links: record.links.clone(),
        assets: record.assets.clone(),
    })
}

/// The channels to serialise and list. A post not in `rendered` has empty
/// content: only feeds that need no serialising show such posts, and the
/// OPML and index pages do not show content.
fn channels<'a>(
    config: &BlogConfig,
    plans: &[ChannelPlan<'a>],
    rendered: &'a HashMap<&str, Rendered>,
) -> Vec<Channel<'a>> {
    let generator = format!("postbode {}", env!("CARGO_PKG_VERSION"));
    plans
        .iter()
        .map(|plan| Channel {
            kind: plan.kind,
            title: plan.title.clone(),
            description: plan.description.clone(),
            page_url: plan.page_url.clone(),
            feed_base_url: if plan.dir.is_empty() {
                config.feeds_url.clone()
            } else {
                format!("{}/{}", config.feeds_url, plan.dir)
            },
            dir: plan.dir.clone(),
            language: config.language.clone(),
            generator: generator.clone(),
            fallback_author: config.title.clone(),
            hub: config.websub_hub.clone(),
            items: plan.posts.iter().map(|p| item(config, p, rendered)).collect(),
        })
        .collect()
}

fn item<'a>(config: &BlogConfig, p: &'a Post, rendered: &'a HashMap<&str, Rendered>) -> Item<'a> {
    let r = rendered.get(p.source.as_str());
    Item {
        post: p,
        content_html: r.map_or("", |r| r.html.as_str()),
        summary: r.and_then(|r| r.summary.as_deref()),
        image_url: r.and_then(|r| r.image_url.as_deref()),
        author_urls: p
            .authors
            .iter()
            .map(|a| {
                a.page
                    .as_deref()
                    .map(|pg| config.site_link(pg))
                    .or_else(|| a.url.clone().filter(|u| u.starts_with("http")))
            })
            .collect(),
    }
}

/// A digest of everything a feed item shows: the post's fields and its
/// rendered content.
fn item_digest(post: &str, output: &str) -> String {
    let mut h = Sha256::new();
    h.update(post);
    h.update([0]);
    h.update(output);
    hex::encode(h.finalize())
}

/// A digest of a channel's inputs: the build context (program, feed
/// definition), the channel's own fields and its items in order.
fn channel_digest(context: &str, plan: &ChannelPlan, items: &HashMap<&str, String>) -> String {
    let mut h = Sha256::new();
    for field in [
        context,
        &format!("{:?}", plan.kind),
        &plan.title,
        &plan.description,
        &plan.page_url,
        &plan.dir,
    ] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field);
    }
    for p in &plan.posts {
        h.update(&items[p.source.as_str()]);
    }
    hex::encode(h.finalize())
}
