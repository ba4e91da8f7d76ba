//! Renders the posts a build shows: MDX to HTML with links between posts
//! resolved to their pages, images copied under `assets/`, the summary and
//! the post's image URL. Each post is rendered once for all its feeds, and
//! says what it depended on (links to other posts) and published (assets),
//! so that a rebuild can tell whether rendering it again would change it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use crate::posts::cache::Digest;

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::memory::FastMap;
use crate::model::Post;
use crate::posts;
use crate::render::{self, Assets, Document, LinkResolver, Site};

/// Resolves links between post files to the target's URL, the way
/// Docusaurus turns `[x](./other.md)` into a link to the other post's page.
pub struct PostIndex<'p> {
    /// By normalised path, compared as bytes (a normalised path has one
    /// spelling; hashing a `Path` by its components cost more than the
    /// rest of an edit rebuild's rendering).
    urls: FastMap<OsString, &'p str>,
}

impl PostIndex<'_> {
    pub fn url_for(&self, abs_path: &Path) -> Option<String> {
        let path = render::normalize_path(abs_path);
        self.urls.get(path.as_os_str()).map(|url| url.to_string())
    }
}

/// The index, noting every question one post's rendering asks of it.
struct Recording<'a> {
    index: &'a PostIndex<'a>,
    asked: Mutex<Vec<(PathBuf, Option<String>)>>,
}

impl LinkResolver for Recording<'_> {
    fn url_for_file(&self, abs_path: &Path) -> Option<String> {
        let url = self.index.url_for(abs_path);
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked.push((abs_path.to_path_buf(), url.clone()));
        url
    }
}

pub struct Renderer<'a> {
    config: &'a BlogConfig,
    pub index: PostIndex<'a>,
    assets_url: String,
    roots: posts::confined::Roots,
}

pub struct Rendered {
    pub html: String,
    pub summary: Option<String>,
    pub image_url: Option<String>,
    pub warnings: Vec<Diagnostic>,
    /// Links to post files the body has, with the URL each resolved to.
    pub links: Vec<(PathBuf, Option<String>)>,
    /// `(public name, real path)` of the files it publishes under `assets/`.
    pub assets: Vec<(String, PathBuf)>,
}

impl Rendered {
    /// A digest of what feeds show of this post's content.
    pub fn digest(&self) -> Digest {
        content_digest(
            &self.html,
            self.summary.as_deref(),
            self.image_url.as_deref(),
        )
    }
}

pub fn content_digest(html: &str, summary: Option<&str>, image_url: Option<&str>) -> Digest {
    let mut h = Sha256::new();
    for part in [Some(html), summary, image_url] {
        match part {
            Some(text) => {
                h.update([1]);
                h.update((text.len() as u64).to_le_bytes());
                h.update(text);
            }
            None => h.update([0]),
        }
    }
    h.finalize().into()
}

impl<'a> Renderer<'a> {
    pub fn new(config: &'a BlogConfig, posts: &'a [Post]) -> Self {
        // A post's source is relative, one `/` between plain names: joined
        // to the normalised folder, it is normalised (50,000 posts, each
        // normalised on its own, cost more than an edit's rendering).
        let root = render::normalize_path(&config.source);
        let plain = |source: &str| {
            root != Path::new(".")
                && (source.split('/')).all(|part| !matches!(part, "" | "." | ".."))
        };
        let mut urls = crate::memory::fast_map(posts.len());
        for p in posts {
            let path = if plain(&p.source) {
                root.join(&p.source)
            } else {
                render::normalize_path(&config.source.join(&p.source))
            };
            urls.insert(path.into_os_string(), p.url.as_str());
        }
        Renderer {
            config,
            index: PostIndex { urls },
            assets_url: format!("{}/assets", config.feeds_url),
            roots: posts::confined::Roots::of_blog(config),
        }
    }

    pub fn render(&self, post: &Post) -> Rendered {
        let path = self.config.source.join(&post.source);
        let mut warnings = Vec::new();
        // Read again here rather than kept from loading: only shown posts
        // need their text. A file that vanished since is reported, and the
        // item keeps its title and summary.
        let body = posts::read_body_in(self.config, &self.roots, post).unwrap_or_else(|d| {
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
        // An asset registry per post, so each post says which files it
        // publishes (a file shared by several posts is hashed by each).
        let assets = Assets::new(&self.assets_url, self.roots.clone());
        let links = Recording {
            index: &self.index,
            asked: Mutex::new(Vec::new()),
        };
        let rendered = render::render_html(&source, &site, &links, &assets);
        let summary = render::post_summary(post.description.as_deref(), &body);
        let image_url = post
            .image
            .as_deref()
            .and_then(|i| render::resolve_image_url(i, &source, &site, &assets));
        warnings.extend(rendered.warnings);
        Rendered {
            html: rendered.html,
            summary,
            image_url,
            warnings,
            links: links.asked.into_inner().unwrap_or_else(|e| e.into_inner()),
            assets: assets.files(),
        }
    }
}
