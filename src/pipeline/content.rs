//! Renders the posts a build shows: MDX to HTML with links between posts
//! resolved to their pages, images copied under `assets/`, the summary and
//! the post's image URL. Each post is rendered once for all its feeds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::model::Post;
use crate::posts;
use crate::render::{self, Assets, Document, LinkResolver, Site};

/// Resolves links between post files to the target's URL, the way
/// Docusaurus turns `[x](./other.md)` into a link to the other post's page.
struct PostIndex {
    urls: HashMap<PathBuf, String>,
}

impl LinkResolver for PostIndex {
    fn url_for_file(&self, abs_path: &Path) -> Option<String> {
        self.urls.get(&render::normalize_path(abs_path)).cloned()
    }
}

pub struct Renderer<'a> {
    config: &'a BlogConfig,
    index: PostIndex,
    pub assets: Assets,
}

pub struct Rendered {
    pub html: String,
    pub summary: Option<String>,
    pub image_url: Option<String>,
    pub warnings: Vec<Diagnostic>,
}

impl<'a> Renderer<'a> {
    pub fn new(config: &'a BlogConfig, posts: &[Post]) -> Self {
        let urls = posts
            .iter()
            .map(|p| {
                (
                    render::normalize_path(&config.source.join(&p.source)),
                    p.url.clone(),
                )
            })
            .collect();
        let assets_url = format!("{}/assets", config.feeds_url);
        Renderer {
            config,
            index: PostIndex { urls },
            assets: Assets::new(&assets_url, posts::confined::Roots::of_blog(config)),
        }
    }

    pub fn render(&self, post: &Post) -> Rendered {
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
