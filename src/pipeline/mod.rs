//! One `build` of one blog: posts -> channels (blog, each tag, each author)
//! -> rendered content -> feed files, written atomically and only when their
//! bytes change. Each post is rendered once, and only when some feed shows
//! it. An unchanged blog is not read again: a manifest in the output folder
//! remembers the inputs of the last build. Returns reports; prints nothing.

mod content;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rayon::prelude::*;

use crate::config::BlogConfig;
use crate::diag::{self, Diagnostic, Outcome};
use crate::feeds::channels::plan_channels;
use crate::feeds::manifest::{self, BuildFiles, Manifest};
use crate::feeds::{self, Channel, Format, Item, OutputDir};
use crate::model::Post;
use crate::posts;

use content::{Rendered, Renderer};

/// What one build did.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// Problems with posts, tags, authors and content, sorted by place.
    pub problems: Vec<Diagnostic>,
    /// Nothing changed since the last build: no post was read, and the
    /// problems are those the last build found.
    pub unchanged: bool,
    /// Files written (unchanged files are left alone).
    pub files_written: usize,
    /// Public URLs of the feed files whose bytes changed.
    pub changed_feeds: Vec<String>,
    /// WebSub pings that still failed after their retries.
    pub websub_failures: Vec<String>,
}

impl BuildReport {
    pub fn outcome(&self) -> Outcome {
        let websub = if self.websub_failures.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Problems
        };
        Outcome::of(&self.problems).max(websub)
    }
}

/// How a build behaves beyond its configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    /// Rebuild even when nothing changed since the last build.
    pub force: bool,
    /// Publish even when the blog lost more than half of its published posts
    /// since the last build (or all of them).
    pub allow_shrink: bool,
}

/// Why a build could not run at all. The published output is untouched.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "{path}: the blog folder (`source`) does not exist or is not a folder; the published feeds are left as they are"
    )]
    MissingSource { path: PathBuf },
    #[error(
        "{path}: the blog went from {before} published posts to {after}; nothing was written (a moved or emptied folder?). If that is right, run again with --allow-shrink"
    )]
    Shrink {
        path: PathBuf,
        before: usize,
        after: usize,
    },
    #[error("{path}: cannot read the blog: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot write feeds: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Builds the feeds of one blog, then pings the WebSub hub (if any) for the
/// feeds whose bytes changed.
pub async fn build(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: BuildOptions,
) -> Result<BuildReport, BuildError> {
    let mut report = write(config, now, opts)?;
    // Only feeds whose bytes changed are news to the hub.
    if let Some(hub) = &config.websub_hub {
        report.websub_failures = feeds::websub::publish(hub, &report.changed_feeds).await;
    }
    Ok(report)
}

fn write(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: BuildOptions,
) -> Result<BuildReport, BuildError> {
    let inputs = manifest::fingerprint(config).map_err(|source| BuildError::Read {
        path: config.source.clone(),
        source,
    })?;
    let write_error = |source| BuildError::Write {
        path: config.output.clone(),
        source,
    };
    let build_files = BuildFiles::of(config);
    let _lock = build_files.lock().map_err(write_error)?;
    let previous = build_files.read();
    if let Some(previous) = previous.as_ref().filter(|_| !opts.force)
        && previous.still_fresh(&inputs, now)
        // A published folder emptied meanwhile (a site build that cleans
        // its output) must be written again, though no post changed.
        && previous.files.iter().all(|f| config.output.join(f).is_file())
    {
        tracing::info!(blog = %config.name, "nothing changed since the last build");
        return Ok(BuildReport {
            problems: previous.problems.clone(),
            unchanged: true,
            ..BuildReport::default()
        });
    }
    if !config.source.is_dir() {
        return Err(BuildError::MissingSource {
            path: config.source.clone(),
        });
    }

    let blog = posts::load(config);
    let published = blog.posts.iter().filter(|p| p.is_published(now)).count();
    let before = previous.as_ref().map_or(0, |m| m.published);
    if !opts.allow_shrink && shrinks(before, published) {
        return Err(BuildError::Shrink {
            path: config.source.clone(),
            before,
            after: published,
        });
    }
    let written_before = previous.map(|m| m.files).unwrap_or_default();
    let mut problems = blog.problems;
    let written = write_feeds(config, &blog.posts, now, &mut problems, &written_before)
        .map_err(write_error)?;
    diag::sort(&mut problems);
    let (valid_from, valid_until) = manifest::validity(&blog.posts, now);
    let manifest = Manifest {
        version: env!("CARGO_PKG_VERSION").to_string(),
        inputs,
        valid_from,
        valid_until,
        problems,
        published,
        files: written.files,
    };
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    OutputDir::new(&build_files.dir)
        .write_if_changed(&build_files.manifest, &bytes)
        .map_err(write_error)?;
    manifest::remove_legacy(&config.output).map_err(write_error)?;
    tracing::info!(blog = %config.name, files_written = written.count, "build finished");
    Ok(BuildReport {
        problems: manifest.problems,
        unchanged: false,
        files_written: written.count,
        changed_feeds: written.changed,
        websub_failures: Vec::new(),
    })
}

/// Losing all published posts, or more than half of them, is far more often
/// a moved folder or a broken checkout than an editor's decision.
fn shrinks(before: usize, after: usize) -> bool {
    before > 0 && after * 2 < before
}

/// What [`write_feeds`] wrote.
struct Written {
    /// Files whose bytes changed.
    count: usize,
    /// Public URLs of the feed files among them.
    changed: Vec<String>,
    /// Every file the build wrote or kept.
    files: BTreeSet<String>,
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

/// Writes every feed file whose bytes change (unchanged ones are left
/// alone) and removes the files of `written_before` no longer written.
fn write_feeds(
    config: &BlogConfig,
    posts: &[Post],
    now: DateTime<Utc>,
    problems: &mut Vec<Diagnostic>,
    written_before: &BTreeSet<String>,
) -> std::io::Result<Written> {
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
        .flat_map(|c| config.formats.iter().map(move |f| (c.rel_path(*f), c, *f)))
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
    keep.extend(["feeds.opml".to_string(), "index.html".to_string()]);
    for stale in out.remove_stale(&keep, written_before)? {
        tracing::info!(file = %stale, "removed a feed that no longer has posts");
    }
    Ok(Written {
        count,
        changed,
        files: keep,
    })
}
