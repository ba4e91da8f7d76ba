//! From loaded posts to files in the output folder, doing again only what
//! changed since the last build: a post is rendered again when its file, a
//! post it links to or an image in the blog changed (else its record in the
//! cache stands), and a feed file is serialised again only when the digest
//! of its inputs – channel, posts, rendered content – changed. Unchanged
//! feeds are neither serialised nor read back.

use std::collections::BTreeSet;

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::feeds::channels::{ChannelPlan, plan_channels};
use crate::feeds::{self, Channel, Format, Item, OutputDir};
use crate::memory::{FastMap, FastSet};
use crate::model::Post;
use crate::posts::cache::{Digest, Stamps, post_digest};

use super::cache::{BuildCache, Pack, Parts, RenderRecord};

/// Channels serialised with one set of contents in memory.
const CHANNEL_BATCH: usize = 64;
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

/// What the last build left, and the stamps of the blog's files now.
pub struct Last<'a> {
    /// Every file the last build wrote or kept.
    pub written_before: &'a BTreeSet<String>,
    pub cache: &'a mut BuildCache,
    pub stamps: &'a Stamps,
    pub pack: &'a Pack,
    /// The last build may not have finished: look for the temporary files
    /// it may have left in the output.
    pub unfinished: bool,
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
    last: Last,
) -> std::io::Result<Written> {
    let Last {
        written_before,
        cache,
        stamps,
        pack,
        unfinished,
    } = last;
    let clock = std::time::Instant::now();
    let phase =
        |name: &str| tracing::debug!(phase = name, ms = clock.elapsed().as_millis(), "write");
    let published: Vec<&Post> = posts.iter().filter(|p| p.is_published(now)).collect();
    let plans = plan_channels(config, &published, problems);
    phase("planned");

    let mut shown: Vec<&Post> = plans.iter().flat_map(|p| p.posts.iter().copied()).collect();
    // One post per file: the same post is the same value (comparing
    // addresses, not 46,000 paths).
    shown.sort_unstable_by_key(|p| std::ptr::from_ref::<Post>(p));
    shown.dedup_by(|a, b| std::ptr::eq(*a, *b));

    // A post whose inputs are as its record says renders as it did then.
    let renderer = Renderer::new(config, posts);
    let files_digest = &stamps.others;
    let file_hash = |p: &Post| cache.posts.files.get(&p.source).map(|f| f.hash);
    let mut records = std::mem::take(&mut cache.renders);
    let dirty: Vec<&Post> = shown
        .iter()
        .filter(|p| {
            let holds = records.get(&p.source).is_some_and(|record| {
                file_hash(p).is_some_and(|hash| record.file_hash == Some(hash))
                    && record.files_digest == *files_digest
                    && (record.links.iter()).all(|(path, url)| renderer.index.url_for(path) == *url)
            });
            !holds
        })
        .copied()
        .collect();
    // The others go straight into the pack, each as soon as it is
    // rendered: memory holds the HTML of the posts being rendered, not the
    // blog's, and no thread waits for another's batch.
    let rendered: Vec<RenderRecord> = dirty
        .par_iter()
        .map(|p| {
            let r = renderer.render(p);
            let parts: Parts = (
                r.html.as_str(),
                r.summary.as_deref(),
                r.image_url.as_deref(),
            );
            let at = pack.append(&parts)?;
            Ok(RenderRecord {
                // None for a post that is not cached: dropped at the end.
                file_hash: file_hash(p),
                files_digest: *files_digest,
                output: r.digest(),
                links: r.links,
                warnings: r.warnings,
                assets: r.assets,
                at: Some(at),
            })
        })
        .collect::<std::io::Result<_>>()?;
    for (p, record) in dirty.iter().zip(rendered) {
        records.insert(p.source.clone(), record);
    }
    phase("rendered changed posts");
    let out = OutputDir::new(&config.output);
    // Images are copied before the feeds that show them are written, so a
    // reader never follows a new feed to an image that is not there yet.
    let assets: BTreeSet<(&String, &std::path::PathBuf)> = (shown.iter())
        .filter_map(|p| records.get(&p.source))
        .flat_map(|r| r.assets.iter().map(|(name, real)| (name, real)))
        .collect();
    let assets: Vec<(String, &std::path::PathBuf)> = assets
        .into_iter()
        .map(|(name, from)| (format!("assets/{name}"), from))
        .collect();
    let present = out.regular_files_in("assets")?;
    let copied: Vec<bool> = assets
        .par_iter()
        .map(|(rel, from)| {
            // Names carry a hash of the content: one the last build wrote
            // and that is still there is this file.
            let name = rel.strip_prefix("assets/").map(std::ffi::OsStr::new);
            if written_before.contains(rel) && name.is_some_and(|n| present.contains(n)) {
                return Ok(false);
            }
            out.copy_if_missing(rel, from)
        })
        .collect::<std::io::Result<_>>()?;
    let mut count = copied.iter().filter(|c| **c).count();
    let asset_files: Vec<String> = assets.into_iter().map(|(rel, _)| rel).collect();
    phase("assets copied");
    let outputs: FastMap<&str, Digest> = shown
        .par_iter()
        .map(|p| {
            let src = p.source.as_str();
            let post = match cache.posts.files.get(src) {
                Some(file) => file.digest,
                None => post_digest(p),
            };
            (src, item_digest(&post, &records[src].output))
        })
        .collect();

    phase("item digests");
    // The feed files whose inputs changed, or that are not there as written.
    let jobs: Vec<(String, usize, Format, Digest)> = plans
        .iter()
        .enumerate()
        .flat_map(|(i, plan)| {
            let digest = channel_digest(&cache.context, plan, &outputs);
            config.formats.iter().map(move |f| {
                let rel = feeds::feed_path(&plan.dir, *f);
                let digest = format_digest(&digest, *f);
                (rel, i, *f, digest)
            })
        })
        .collect();
    let stale: Vec<&(String, usize, Format, Digest)> = jobs
        .par_iter()
        .filter(|(rel, _, _, digest)| {
            let kept = cache.feeds.get(rel).filter(|(d, _)| d == digest);
            !(written_before.contains(rel)
                && kept.is_some_and(|(_, len)| file_len(config, rel) == Some(*len)))
        })
        .collect();
    phase("stale feeds found");

    // Serialised a batch of channels at a time, with their posts' content
    // taken from the pack (rendered again if it is damaged or gone).
    let mut sizes: Vec<(bool, usize)> = Vec::with_capacity(stale.len());
    for batch in stale.chunk_by(|a, b| a.1 / CHANNEL_BATCH == b.1 / CHANNEL_BATCH) {
        let mut wanted: Vec<&Post> = batch
            .iter()
            .flat_map(|(_, i, _, _)| plans[*i].posts.iter().copied())
            .collect();
        wanted.sort_by(|a, b| a.source.cmp(&b.source));
        wanted.dedup_by(|a, b| a.source == b.source);
        let contents: FastMap<&str, Rendered> = wanted
            .par_iter()
            .map(|p| {
                let record = &records[&p.source];
                let content = unpack(pack, record).unwrap_or_else(|| renderer.render(p));
                (p.source.as_str(), content)
            })
            .collect();
        let written: Vec<(bool, usize)> = batch
            .par_iter()
            .map(|(rel, i, f, _)| {
                let channel = channel(config, &plans[*i], &contents, usize::MAX);
                let bytes = feeds::render(&channel, *f);
                Ok((out.write_if_changed(rel, &bytes)?, bytes.len()))
            })
            .collect::<std::io::Result<_>>()?;
        sizes.extend(written);
    }
    count += sizes.iter().filter(|(w, _)| *w).count();
    let changed: Vec<String> = stale
        .iter()
        .zip(&sizes)
        .filter(|(_, (w, _))| *w)
        .map(|((rel, _, _, _), _)| format!("{}/{rel}", config.feeds_url))
        .collect();
    phase("feeds serialised");
    let mut feeds: FastMap<String, (Digest, u64)> = crate::memory::fast_map(jobs.len());
    for (rel, _, _, digest) in &jobs {
        if let Some(kept) = cache.feeds.remove(rel).filter(|(d, _)| d == digest) {
            feeds.insert(rel.clone(), kept);
        }
    }
    for ((rel, _, _, digest), (_, len)) in stale.iter().zip(&sizes) {
        feeds.insert(rel.clone(), (*digest, *len as u64));
    }

    // The records of the posts shown: warnings and assets of all, and
    // what the next build may reuse.
    // The table is kept, not built again.
    let sources: FastSet<&str> = shown.iter().map(|p| p.source.as_str()).collect();
    records.retain(|source, _| sources.contains(source.as_str()));
    let mut renders = records;
    for record in renders.values() {
        problems.extend(record.warnings.iter().cloned());
    }
    let mut keep: BTreeSet<String> = jobs.iter().map(|(rel, _, _, _)| rel.clone()).collect();
    keep.extend(asset_files);
    // The OPML list and the index page change with the channels and their
    // newest posts' titles, not with a post's content: after a one-post
    // edit they are usually as they were, and rendering the index of 650
    // channels costs more than the rest of such a build.
    let lists_digest = lists_digest(&cache.context, &plans);
    let fresh = |rel: &str| {
        let kept = cache.feeds.get(rel);
        written_before.contains(rel)
            && kept
                .is_some_and(|(d, len)| *d == lists_digest && file_len(config, rel) == Some(*len))
    };
    if !(fresh("feeds.opml") && fresh("index.html")) {
        let none = FastMap::default();
        // The OPML list shows no posts, the index page its newest few.
        let channels: Vec<Channel> = (plans.iter())
            .map(|p| channel(config, p, &none, feeds::INDEX_LATEST))
            .collect();
        let refs: Vec<&Channel> = channels.iter().collect();
        let opml = feeds::render_opml(&config.title, &refs, &config.formats);
        count += usize::from(out.write_if_changed("feeds.opml", &opml)?);
        let subscribe_url = config
            .serve
            .as_ref()
            .map(|serve| serve.page(&config.name, "subscribe"));
        let index = feeds::render_index_html(
            &config.title,
            &config.description,
            &refs,
            &config.formats,
            subscribe_url.as_deref(),
        );
        count += usize::from(out.write_if_changed("index.html", &index)?);
        for (rel, len) in [("feeds.opml", opml.len()), ("index.html", index.len())] {
            feeds.insert(rel.to_owned(), (lists_digest, len as u64));
        }
    } else {
        for rel in ["feeds.opml", "index.html"] {
            if let Some(kept) = cache.feeds.remove(rel) {
                feeds.insert(rel.to_owned(), kept);
            }
        }
    }
    keep.extend(["feeds.opml".to_string(), "index.html".to_string()]);
    for stale in out.remove_stale(&keep, written_before, unfinished)? {
        tracing::info!(file = %stale, "removed a feed that no longer has posts");
    }
    // A record without a file hash was only there for this build.
    renders.retain(|_, r| r.file_hash.is_some());
    cache.renders = renders;
    cache.feeds = feeds;
    phase("index written");
    tracing::debug!(
        rendered = dirty.len(),
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
    let at = record.at?;
    let c = pack.get(at)?;
    let holds = pack.appended_now(at)
        || content_digest(&c.html, c.summary.as_deref(), c.image_url.as_deref()) == record.output;
    holds.then(|| Rendered {
        html: c.html,
        summary: c.summary,
        image_url: c.image_url,
        warnings: record.warnings.clone(),
        links: record.links.clone(),
        assets: record.assets.clone(),
    })
}

/// One channel to serialise or list, with its first `items` posts. A post
/// not in `contents` has no content: the OPML and index pages do not show
/// any.
fn channel<'a>(
    config: &BlogConfig,
    plan: &ChannelPlan<'a>,
    contents: &'a FastMap<&str, Rendered>,
    items: usize,
) -> Channel<'a> {
    Channel {
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
        generator: format!("postbode {}", env!("CARGO_PKG_VERSION")),
        fallback_author: config.title.clone(),
        hub: config.websub_hub.clone(),
        items: (plan.posts.iter().take(items))
            .map(|p| item(config, p, contents))
            .collect(),
    }
}

fn item<'a>(config: &BlogConfig, p: &'a Post, rendered: &'a FastMap<&str, Rendered>) -> Item<'a> {
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

/// The size of a regular file in the output folder.
fn file_len(config: &BlogConfig, rel: &str) -> Option<u64> {
    let meta = std::fs::metadata(config.output.join(rel)).ok()?;
    meta.is_file().then_some(meta.len())
}

/// A digest of what the OPML list and the index page show: the build
/// context (program, feed definition) and each channel's fields with the
/// title, URL and date of the posts the index page lists.
fn lists_digest(context: &str, plans: &[ChannelPlan]) -> Digest {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(context.as_bytes());
    for plan in plans {
        field(format!("{:?}", plan.kind).as_bytes());
        for text in [&plan.title, &plan.description, &plan.page_url, &plan.dir] {
            field(text.as_bytes());
        }
        // The OPML list shows no posts, the index page its newest few.
        for p in plan.posts.iter().take(feeds::INDEX_LATEST) {
            field(p.title.as_bytes());
            field(p.url.as_bytes());
            field(&p.date.timestamp().to_le_bytes());
            field(&p.date.timestamp_subsec_nanos().to_le_bytes());
        }
        field(b"");
    }
    h.finalize().into()
}

/// A digest of everything a feed item shows: the post's fields and its
/// rendered content.
fn item_digest(post: &Digest, output: &Digest) -> Digest {
    let mut h = Sha256::new();
    h.update(post);
    h.update(output);
    h.finalize().into()
}

/// The digest of one feed file: its channel's, and its format.
fn format_digest(channel: &Digest, format: Format) -> Digest {
    let mut h = Sha256::new();
    h.update(channel);
    h.update(format.file_name());
    h.finalize().into()
}

/// A digest of a channel's inputs: the build context (program, feed
/// definition), the channel's own fields and its items in order.
fn channel_digest(context: &str, plan: &ChannelPlan, items: &FastMap<&str, Digest>) -> Digest {
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
        h.update(items[p.source.as_str()]);
    }
    h.finalize().into()
}
