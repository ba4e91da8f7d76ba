//! One `build` of one blog: posts -> channels (blog, each tag, each author)
//! -> rendered content -> feed files, written atomically and only when their
//! bytes change. Each post is rendered once, and only when some feed shows
//! it. An unchanged blog is not read again: a manifest in the output folder
//! remembers the inputs of the last build.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cli::{Outcome, report, sort_problems};
use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::feeds::{self, Channel, ChannelKind, Format, Item, OutputDir};
use crate::model::{Author, Post, Tag};
use crate::posts::{self, lodash::kebab_case};
use crate::render::{self, Assets, Document, LinkResolver, Site};

const MANIFEST: &str = ".postbode-build.json";

/// What the last build saw, so an unchanged rebuild can stop early.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Manifest {
    version: String,
    inputs: String,
    /// The set of published posts is the same for any `now` in
    /// `[valid_from, valid_until)`.
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    problems: Vec<String>,
    had_errors: bool,
}

pub fn build(config: &BlogConfig, now: DateTime<Utc>, force: bool) -> Outcome {
    let inputs = match fingerprint(config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "postbode: {}: cannot read the blog: {e}",
                config.source.display()
            );
            return Outcome::Fatal;
        }
    };
    // Two runs may overlap (a slow cron run and the next one): builds of one
    // output folder take turns, so one never removes what the other writes.
    let _lock = match lock_output(&config.output) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "postbode: {}: cannot write feeds: {e}",
                config.output.display()
            );
            return Outcome::Fatal;
        }
    };
    let manifest_path = config.output.join(MANIFEST);
    if let Some(previous) = read_manifest(&manifest_path).filter(|_| !force) {
        let fresh = previous.version == env!("CARGO_PKG_VERSION")
            && previous.inputs == inputs
            && previous.valid_from.is_none_or(|t| t <= now)
            && previous.valid_until.is_none_or(|t| now < t);
        if fresh {
            for p in &previous.problems {
                eprintln!("{p}");
            }
            tracing::info!(blog = %config.name, "nothing changed since the last build");
            return if previous.had_errors {
                Outcome::Problems
            } else {
                Outcome::Ok
            };
        }
    }

    let blog = posts::load(config);
    let mut problems = blog.problems;
    let result = write_feeds(config, &blog.posts, now, &mut problems);
    sort_problems(&mut problems);
    let outcome = report(&problems);
    let (written, changed) = match result {
        Ok(w) => w,
        Err(e) => {
            eprintln!(
                "postbode: {}: cannot write feeds: {e}",
                config.output.display()
            );
            return Outcome::Fatal;
        }
    };
    let (valid_from, valid_until) = validity(&blog.posts, now);
    let manifest = Manifest {
        version: env!("CARGO_PKG_VERSION").to_string(),
        inputs,
        valid_from,
        valid_until,
        problems: problems.iter().map(ToString::to_string).collect(),
        had_errors: outcome != Outcome::Ok,
    };
    let out = OutputDir::new(&config.output);
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    if let Err(e) = out.write_if_changed(MANIFEST, &bytes) {
        eprintln!(
            "postbode: {}: cannot write the build manifest: {e}",
            config.output.display()
        );
        return Outcome::Fatal;
    }
    tracing::info!(blog = %config.name, files_written = written, "build finished");
    // WebSub: only feeds whose bytes changed are news to the hub.
    if let Some(hub) = &config.websub_hub {
        let failures = crate::feeds::websub::publish(hub, &changed);
        for f in &failures {
            eprintln!("{}: warning: {f}", config.file.display());
        }
        if !failures.is_empty() {
            return outcome.max(Outcome::Problems);
        }
    }
    outcome
}

/// Holds an exclusive lock on `<output>/.postbode.lock` until dropped.
fn lock_output(output: &Path) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(output)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(output.join(".postbode.lock"))?;
    file.lock()?;
    Ok(file)
}

/// Renders the content of every published post, to report its problems
/// (a missing image, a broken link) without writing anything.
pub fn check_content(config: &BlogConfig, posts: &[Post], now: DateTime<Utc>) -> Vec<Diagnostic> {
    let published: Vec<&Post> = posts.iter().filter(|p| p.is_published(now)).collect();
    let renderer = Renderer::new(config, posts);
    published
        .par_iter()
        .flat_map_iter(|p| renderer.render(p).warnings)
        .collect()
}

/// The window of `now` values for which the published set stays what it is
/// at `now`: from the newest date already reached to the next future date.
fn validity(posts: &[Post], now: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let dated = posts
        .iter()
        .filter(|p| !p.draft && !p.unlisted)
        .map(|p| p.date);
    let from = dated.clone().filter(|d| *d <= now).max();
    let until = dated.filter(|d| *d > now).min();
    (from, until)
}

/// A digest of everything a build reads: the feed definition, and name, size
/// and modification time of every file in the blog folder and its tags and
/// authors files. Stat-only, so an unchanged rebuild reads no post.
fn fingerprint(config: &BlogConfig) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(std::fs::read(&config.file)?);
    let mut files: Vec<PathBuf> = config
        .tags_file
        .iter()
        .chain(config.authors_file.iter())
        .cloned()
        .collect();
    for entry in walkdir::WalkDir::new(&config.source).follow_links(true) {
        match entry {
            Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
            Ok(_) => {}
            // Unreadable entries are reported by the real read; here they
            // only make the fingerprint differ.
            Err(e) => hasher.update(e.to_string().as_bytes()),
        }
    }
    files.sort();
    for f in files {
        hasher.update(f.as_os_str().as_encoded_bytes());
        if let Ok(m) = std::fs::metadata(&f) {
            hasher.update(m.len().to_le_bytes());
            if let Ok(t) = m.modified() {
                let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                hasher.update(d.as_nanos().to_le_bytes());
            }
        }
        hasher.update([0]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn read_manifest(path: &Path) -> Option<Manifest> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Resolves links between post files to the target's URL, the way
/// Docusaurus turns `[x](./other.md)` into a link to the other post's page.
struct PostIndex {
    urls: HashMap<PathBuf, String>,
}

impl LinkResolver for PostIndex {
    fn url_for_file(&self, abs_path: &Path) -> Option<String> {
        self.urls.get(&clean(abs_path)).cloned()
    }
}

/// Lexical path normalisation (`a/./b/../c` -> `a/c`), enough to compare
/// links written in posts with the paths the loader found.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

struct Renderer<'a> {
    config: &'a BlogConfig,
    index: PostIndex,
    assets: Assets,
}

struct Rendered {
    html: String,
    summary: Option<String>,
    image_url: Option<String>,
    warnings: Vec<Diagnostic>,
}

impl<'a> Renderer<'a> {
    fn new(config: &'a BlogConfig, posts: &[Post]) -> Self {
        let urls = posts
            .iter()
            .map(|p| (clean(&config.source.join(&p.source)), p.url.clone()))
            .collect();
        let assets_url = format!("{}/assets", config.feeds_url);
        Renderer {
            config,
            index: PostIndex { urls },
            assets: Assets::new(&assets_url),
        }
    }

    fn render(&self, post: &Post) -> Rendered {
        let path = self.config.source.join(&post.source);
        let mut warnings = Vec::new();
        // Read again here rather than kept from loading: only shown posts
        // need their text. A file that vanished since is reported, and the
        // item keeps its title and summary.
        let body = posts::read_body(self.config, post).unwrap_or_else(|d| {
            warnings.push(d);
            String::new()
        });
        let site = Site {
            site_url: &self.config.site_url,
        };
        let source = Document {
            path: &path,
            display_path: &path,
            url: &post.url,
            body: &body,
            body_line: post.body_line,
        };
        let rendered = render::render_html(&source, &site, &self.index, &self.assets);
        let summary = render::post_summary(post.description.as_deref(), &body);
        let image_url = post
            .image
            .as_deref()
            .and_then(|i| render::resolve_image_url(i, &source, &site, &self.assets));
        warnings.extend(rendered.warnings);
        Rendered {
            html: rendered.html,
            summary,
            image_url,
            warnings,
        }
    }
}

/// One feed channel before rendering: which posts, in which folder.
struct Plan<'p> {
    kind: ChannelKind,
    title: String,
    description: String,
    page_url: String,
    dir: String,
    posts: Vec<&'p Post>,
}

fn plan_channels<'p>(
    config: &BlogConfig,
    published: &[&'p Post],
    problems: &mut Vec<Diagnostic>,
) -> Vec<Plan<'p>> {
    let limit = config.limit;
    let take = |it: &mut dyn Iterator<Item = &'p Post>| it.take(limit).collect::<Vec<_>>();
    let mut plans = vec![Plan {
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
            plans.push(Plan {
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
            plans.push(Plan {
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

/// Returns how many files were written (unchanged ones are left alone) and
/// the public URLs of the feed files among them.
fn write_feeds(
    config: &BlogConfig,
    posts: &[Post],
    now: DateTime<Utc>,
    problems: &mut Vec<Diagnostic>,
) -> std::io::Result<(usize, Vec<String>)> {
    let published: Vec<&Post> = posts.iter().filter(|p| p.is_published(now)).collect();
    let plans = plan_channels(config, &published, problems);

    // Render each shown post once, for all the feeds that show it.
    let mut shown: Vec<&Post> = plans.iter().flat_map(|p| p.posts.iter().copied()).collect();
    shown.sort_by(|a, b| a.source.cmp(&b.source));
    shown.dedup_by(|a, b| a.source == b.source);
    let renderer = Renderer::new(config, posts);
    let rendered: HashMap<&str, Rendered> = shown
        .par_iter()
        .map(|p| (p.source.as_str(), renderer.render(p)))
        .collect();
    for r in rendered.values() {
        problems.extend(r.warnings.iter().cloned());
    }
    let generator = format!("postbode {}", env!("CARGO_PKG_VERSION"));
    let channels: Vec<Channel> = plans
        .into_iter()
        .map(|plan| Channel {
            kind: plan.kind,
            title: plan.title,
            description: plan.description,
            page_url: plan.page_url,
            feed_base_url: if plan.dir.is_empty() {
                config.feeds_url.clone()
            } else {
                format!("{}/{}", config.feeds_url, plan.dir)
            },
            dir: plan.dir,
            language: config.language.clone(),
            generator: generator.clone(),
            fallback_author: config.title.clone(),
            hub: config.websub_hub.clone(),
            items: plan
                .posts
                .iter()
                .map(|p| {
                    let r = &rendered[p.source.as_str()];
                    Item {
                        post: p,
                        content_html: &r.html,
                        summary: r.summary.as_deref(),
                        image_url: r.image_url.as_deref(),
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
                })
                .collect(),
        })
        .collect();

    let out = OutputDir::new(&config.output);
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let jobs: Vec<(String, &Channel, Format)> = channels
        .iter()
        .flat_map(|c| {
            config.formats.iter().map(move |f| {
                let name = match f {
                    Format::Atom => "atom.xml",
                    Format::Rss => "rss.xml",
                    Format::Json => "feed.json",
                };
                let rel = if c.dir.is_empty() {
                    name.to_string()
                } else {
                    format!("{}/{name}", c.dir)
                };
                (rel, c, *f)
            })
        })
        .collect();
    keep.extend(jobs.iter().map(|(rel, _, _)| rel.clone()));
    let written: Vec<bool> = jobs
        .par_iter()
        .map(|(rel, c, f)| out.write_if_changed(rel, &feeds::render(c, *f)))
        .collect::<std::io::Result<_>>()?;
    let mut count = written.iter().filter(|w| **w).count();
    let changed: Vec<String> = jobs
        .iter()
        .zip(&written)
        .filter(|(_, w)| **w)
        .map(|((rel, _, _), _)| format!("{}/{rel}", config.feeds_url))
        .collect();

    for (name, from) in renderer.assets.files() {
        let rel = format!("assets/{name}");
        count += usize::from(out.copy_if_missing(&rel, &from)?);
        keep.insert(rel);
    }
    let refs: Vec<&Channel> = channels.iter().collect();
    let opml = feeds::render_opml(&config.title, &refs, &config.formats);
    count += usize::from(out.write_if_changed("feeds.opml", &opml)?);
    let index =
        feeds::render_index_html(&config.title, &config.description, &refs, &config.formats);
    count += usize::from(out.write_if_changed("index.html", &index)?);
    keep.extend([
        "feeds.opml".to_string(),
        "index.html".to_string(),
        MANIFEST.to_string(),
    ]);
    for stale in out.remove_stale(&keep)? {
        tracing::info!(file = %stale, "removed a feed that no longer has posts");
    }
    Ok((count, changed))
}
