//! One `build` of one blog: posts -> channels (blog, each tag, each author)
//! -> rendered content -> feed files, written atomically and only when their
//! bytes change. Each post is rendered once, and only when some feed shows
//! it. An unchanged blog is not read again: a manifest in the output folder
//! remembers the inputs of the last build. Returns reports; prints nothing.

mod cache;
mod content;
mod write;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rayon::prelude::*;

use crate::config::BlogConfig;
use crate::diag::{self, Diagnostic, Outcome};
use crate::feeds::manifest::{self, BuildFiles, Manifest};
use crate::feeds::{self, OutputDir};
use crate::model::Post;
use crate::posts;

use cache::BuildCache;
use content::Renderer;

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
    /// Every post this build read, as [`posts::load`] returns them (drafts
    /// and future posts included; those it took from its cache are the
    /// posts it read before from the same, unchanged files), so the notify
    /// half of a `run` plans from the posts the feeds show without reading
    /// the blog again. When `unchanged`, the posts of the cache if
    /// `BuildOptions::keep_posts` asked for them, else `None`.
    pub posts: Option<Vec<Post>>,
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
    /// The caller goes on with the posts (`run`): hand them over even when
    /// nothing changed, taken from the build's cache instead of parsed.
    pub keep_posts: bool,
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
    let clock = std::time::Instant::now();
    let phase =
        |name: &str| tracing::debug!(phase = name, ms = clock.elapsed().as_millis(), "build");
    let (inputs, stamps) = manifest::fingerprint(config).map_err(|source| BuildError::Read {
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
        && !build_files.writing.exists()
        // A published folder emptied meanwhile (a site build that cleans
        // its output) must be written again, though no post changed.
        && previous.files.par_iter().all(|f| config.output.join(f).is_file())
    {
        tracing::info!(blog = %config.name, "nothing changed since the last build");
        // Every file has the stamp the cache holds its post under: each
        // post comes from the cache (the problems are the last build's).
        let posts = opts.keep_posts.then(|| {
            let (_, last_posts) = BuildCache::read(
                &build_files.dir.join(&build_files.cache),
                &cache::context(config),
            );
            let reuse = posts::Reuse {
                cache: last_posts.take(),
                stamps: &stamps,
            };
            posts::load_cached(config, Some(reuse)).0.posts
        });
        return Ok(BuildReport {
            problems: previous.problems.clone(),
            unchanged: true,
            posts,
            ..BuildReport::default()
        });
    }
    if !config.source.is_dir() {
        return Err(BuildError::MissingSource {
            path: config.source.clone(),
        });
    }

    phase("fingerprint");
    let context = cache::context(config);
    let cache_path = build_files.dir.join(&build_files.cache);
    // The cache is read while the blog folder is walked for its posts:
    // each is one thread's work.
    let ((mut cache, last_posts), found) = rayon::join(
        || {
            if opts.force {
                (BuildCache::empty(context), Default::default())
            } else {
                let (cache, last_posts) = BuildCache::read(&cache_path, &context);
                (cache, last_posts.take())
            }
        },
        || posts::find(config),
    );
    phase("cache read, posts found");
    let reuse = posts::Reuse {
        cache: last_posts,
        stamps: &stamps,
    };
    let (blog, post_cache) = posts::load_found(config, found, Some(reuse));
    phase("posts loaded");
    cache.posts = post_cache;
    let published = blog.posts.iter().filter(|p| p.is_published(now)).count();
    let before = previous.as_ref().map_or(0, |m| m.published);
    if !opts.allow_shrink && shrinks(before, published) {
        return Err(BuildError::Shrink {
            path: config.source.clone(),
            before,
            after: published,
        });
    }
    let pack_path = build_files.dir.join(&build_files.pack);
    let pack = cache::Pack::open(pack_path, cache.renders.is_empty()).map_err(write_error)?;
    // A build that stopped half-way (killed, or a failed write) may have
    // left temporary files in the output: the marker says so.
    let unfinished = opts.force || previous.is_none() || build_files.writing.exists();
    std::fs::write(&build_files.writing, b"").map_err(write_error)?;
    let written_before = previous.map(|m| m.files).unwrap_or_default();
    let mut problems = blog.problems;
    let last = write::Last {
        written_before: &written_before,
        cache: &mut cache,
        stamps: &stamps,
        pack: &pack,
        unfinished,
    };
    let written =
        write::write_feeds(config, &blog.posts, now, &mut problems, last).map_err(write_error)?;
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
    phase("feeds written");
    // Both after the feeds they describe, so neither claims a file not
    // written; each holds on its own (a cache newer or older than the
    // manifest is checked entry by entry), so they are written at once.
    let (manifest_written, ()) = rayon::join(
        || {
            let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
            OutputDir::new(&build_files.dir).write_if_changed(&build_files.manifest, &bytes)?;
            manifest::remove_legacy(&config.output)?;
            std::fs::remove_file(&build_files.writing)
        },
        || {
            pack.compact(&mut cache.renders);
            cache.write(&cache_path, &blog.posts);
        },
    );
    manifest_written.map_err(write_error)?;
    // Tables of every file of the blog and of the output: freeing them
    // is no work the caller has to wait for.
    crate::memory::drop_aside((cache, stamps, written_before, manifest.files));
    phase("cache written");
    tracing::info!(blog = %config.name, files_written = written.count, "build finished");
    Ok(BuildReport {
        problems: manifest.problems,
        unchanged: false,
        files_written: written.count,
        changed_feeds: written.changed,
        websub_failures: Vec::new(),
        posts: Some(blog.posts),
    })
}

/// Losing all published posts, or more than half of them, is far more often
/// a moved folder or a broken checkout than an editor's decision.
fn shrinks(before: usize, after: usize) -> bool {
    before > 0 && after * 2 < before
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
