//! A post body (Markdown with MDX) -> safe, self-contained HTML for feed
//! items, plus the plain-text summary. The steps, one module each:
//! `mdx` removes the MDX layer (imports, comments, JSX, admonitions,
//! directives), `html` renders Markdown and sanitises, `urls` makes every
//! link absolute (copying local images through `assets`), `summary` cuts the
//! excerpt. `code` finds the code that the MDX pass and the summary leave
//! alone.

mod assets;
mod code;
mod html;
mod mdx;
mod summary;
mod urls;

use std::path::Path;

pub use assets::Assets;
use summary::summary;
pub use urls::normalize_path;

use crate::diag::Diagnostic;

/// Where the site lives.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// `https://developer.overheid.nl`, no trailing slash.
    pub site_url: &'a str,
}

/// One post body to render, with where it came from and where it will live.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    /// Absolute path of the post file; local images are resolved from its folder.
    pub path: &'a Path,
    /// The path to print in diagnostics.
    pub display_path: &'a Path,
    /// Absolute URL of the post page: the base for relative links.
    pub url: &'a str,
    /// Markdown after the front matter (title H1 already removed).
    pub body: &'a str,
    /// 1-based line where `body` starts in the file.
    pub body_line: usize,
}

/// Resolves a link to another post file (Docusaurus turns `[x](../other.md)`
/// into the target's permalink).
pub trait LinkResolver: Sync {
    /// The absolute URL of the post at `abs_path` (an absolute path with `.`
    /// and `..` removed, not canonicalised), or `None` when it is not a post.
    fn url_for_file(&self, abs_path: &Path) -> Option<String>;
}

/// The HTML of a post body and what was wrong with it.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub html: String,
    pub warnings: Vec<Diagnostic>,
}

/// Renders a post body to sanitised HTML in which every URL is absolute.
pub fn render_html(
    src: &Document,
    site: &Site,
    links: &dyn LinkResolver,
    assets: &Assets,
) -> Rendered {
    let mut resolver = urls::Resolver::new(src, site, links, assets);
    let pre = mdx::preprocess(src.body, &mut resolver, mdx::Mode::Render);
    let url_warnings = resolver.warnings.len();
    let safe = Some(&pre.safe_html);
    let mut out = html::render_markdown(&pre.text, &mut resolver, safe, false);
    let mut too_deep = None;
    if out.raw_html && out.nesting > html::MAX_SANITIZED_NESTING {
        let message = format!(
            "raw HTML in this post is nested {} elements deep, more than the {} postbode can sanitise in time; its tags are shown as text. Nest less deeply",
            out.nesting,
            html::MAX_SANITIZED_NESTING
        );
        too_deep = Some(Diagnostic::warning(src.display_path, message));
        // The second pass sees the same URLs: keep one set of warnings.
        resolver.warnings.truncate(url_warnings);
        out = html::render_markdown(&pre.text, &mut resolver, safe, true);
    }
    // Without raw HTML of the author's, pulldown-cmark writes only its own
    // tags around escaped text, and every URL has been checked: sanitising
    // would change nothing and costs more than all the rest together.
    let html = if out.raw_html {
        html::sanitize(&out.html)
    } else {
        out.html
    };
    let mut warnings: Vec<Diagnostic> = too_deep.into_iter().collect();
    warnings.extend(pre.warnings.into_iter().map(|(at, message)| {
        let (line, col) = crate::text::line_col(src.body, at);
        Diagnostic::warning(src.display_path, message).at(src.body_line + line - 1, col)
    }));
    warnings.append(&mut resolver.warnings);
    warnings.sort_by_key(|d| (d.line, d.column));
    Rendered { html, warnings }
}

/// Front matter `image` -> absolute URL, by the rules of `<img src>`: a local
/// file is registered in `assets`. `None` for an empty or unsafe value.
pub fn resolve_image_url(
    image: &str,
    src: &Document,
    site: &Site,
    assets: &Assets,
) -> Option<String> {
    struct NoPosts;
    impl LinkResolver for NoPosts {
        fn url_for_file(&self, _: &Path) -> Option<String> {
            None
        }
    }
    use urls::UrlMap as _;
    urls::Resolver::new(src, site, &NoPosts, assets)
        .quiet()
        .map("img", "src", image, None)
}

/// What feeds and notifications show as a post's summary: its front matter
/// `description`, else the text before the truncate marker.
pub fn post_summary(description: Option<&str>, body: &str) -> Option<String> {
    description
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .or_else(|| summary(body))
}

#[cfg(test)]
mod page_parity_tests;
#[cfg(test)]
mod tests;
