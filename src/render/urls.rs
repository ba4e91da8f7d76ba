//! Turning every link and image URL in a post into an absolute one. A feed
//! item is read far from the page it came from, so `./img/a.png`,
//! `/img/x.png`, `#section` and `../other.md` must all point somewhere real.
//! Both the Markdown renderer and the raw HTML/JSX rewriter call [`UrlMap`],
//! so there is one set of rules for `[x](y)`, `<img src>` and `<Link href>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use super::{Assets, Document, LinkResolver, Site};
use crate::diag::Diagnostic;
pub use crate::paths::normalize_path;
use crate::text::line_col;

/// URL schemes a feed may link to; anything else (`javascript:`, `data:`,
/// `vbscript:`) is dropped. ammonia is told the same list.
pub(crate) const ALLOWED_SCHEMES: &[&str] = &[
    "http", "https", "mailto", "tel", "ftp", "ftps", "sftp", "irc", "ircs", "xmpp", "sms",
    "webcal", "geo", "magnet", "news",
];

/// What a file name keeps unescaped in a URL path: RFC 3986's unreserved
/// characters and the sub-delimiters Docusaurus leaves alone.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'+')
    .remove(b',');

/// Rewrites the value of one URL attribute. `None` drops the attribute (or the
/// link/image it belongs to). `at` is the byte offset of the value in the post
/// body when the caller knows it, for diagnostics.
pub(crate) trait UrlMap {
    fn map(&mut self, element: &str, attr: &str, value: &str, at: Option<usize>) -> Option<String>;
}

/// Leaves URLs alone: for the summary, which keeps no markup at all.
pub(crate) struct KeepUrls;

impl UrlMap for KeepUrls {
    fn map(&mut self, _: &str, _: &str, value: &str, _: Option<usize>) -> Option<String> {
        Some(value.to_owned())
    }
}

/// The link rules of one post.
pub(crate) struct Resolver<'r> {
    src: &'r Document<'r>,
    site: &'r Site<'r>,
    links: &'r dyn LinkResolver,
    assets: &'r Assets,
    /// The post page, base for links that are neither files nor site paths.
    page: Option<Url>,
    /// The folder of the post file, base for local files.
    dir: PathBuf,
    /// Whether missing and refused files are reported (not for the front
    /// matter image, which the loader reports at its line).
    report: bool,
    /// Relative URLs already resolved (each costs a file system lookup).
    seen: HashMap<(bool, String), Option<String>>,
    pub warnings: Vec<Diagnostic>,
}

impl<'r> Resolver<'r> {
    pub fn new(
        src: &'r Document<'r>,
        site: &'r Site<'r>,
        links: &'r dyn LinkResolver,
        assets: &'r Assets,
    ) -> Self {
        let page = Url::parse(src.url)
            .or_else(|_| Url::parse(&format!("{}/", site.site_url)))
            .ok();
        let dir = src.path.parent().map(Path::to_path_buf).unwrap_or_default();
        Resolver {
            src,
            site,
            links,
            assets,
            page,
            dir,
            report: true,
            seen: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    pub fn quiet(mut self) -> Self {
        self.report = false;
        self
    }

    fn warn(&mut self, value: &str, at: Option<usize>, message: String) {
        if !self.report {
            return;
        }
        let mut diag = Diagnostic::warning(self.src.display_path, message);
        // Markdown URLs arrive without a position: find the first place the
        // URL is written, which is right in all but contrived posts.
        let at = at.or_else(|| self.src.body.find(value));
        if let Some(at) = at {
            let (line, col) = line_col(self.src.body, at);
            diag = diag.at(self.src.body_line + line - 1, col);
        }
        self.warnings.push(diag);
    }

    /// The rules, in the order Docusaurus applies them.
    fn resolve(&mut self, value: &str, embed: bool, at: Option<usize>) -> Option<String> {
        let value = value.trim();
        if value.is_empty() {
            // `[x]()` links to the page itself; an empty `src` shows nothing.
            return if embed { None } else { self.page_url("") };
        }
        if value.starts_with('#') {
            return self.page_url(value);
        }
        if let Some(rest) = value.strip_prefix("//") {
            return Some(format!("https://{rest}"));
        }
        if let Some(scheme) = scheme_of(value) {
            let scheme = scheme.to_ascii_lowercase();
            return ALLOWED_SCHEMES
                .contains(&scheme.as_str())
                .then(|| value.to_owned());
        }
        if value.starts_with('/') {
            // Docusaurus serves `/img/x.png` from `static/`, at the site root.
            if embed && let Some(dir) = self.assets.static_dir() {
                let split = value.find(['?', '#']).unwrap_or(value.len());
                let file = normalize_path(&dir.join(percent_decode(&value[1..split])));
                if file.starts_with(dir) && !is_local_file(&file) {
                    self.warn(
                        value,
                        at,
                        format!("image not found: {value} (looked for {})", file.display()),
                    );
                }
            }
            return Some(format!("{}{value}", self.site.site_url));
        }
        // A repeated URL resolves (and is reported) once.
        let key = (embed, value.to_owned());
        if let Some(done) = self.seen.get(&key) {
            return done.clone();
        }
        let done = self.resolve_relative(value, embed, at);
        self.seen.insert(key, done.clone());
        done
    }

    fn resolve_relative(&mut self, value: &str, embed: bool, at: Option<usize>) -> Option<String> {
        let split = value.find(['?', '#']).unwrap_or(value.len());
        let (path_part, suffix) = value.split_at(split);
        let fragment = suffix.find('#').map_or("", |i| &suffix[i..]);
        let file = normalize_path(&self.dir.join(percent_decode(path_part)));
        if let Some(url) = self.static_url(&file, value, embed, at) {
            return Some(format!("{url}{suffix}"));
        }
        let is_post = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("mdx"));
        if is_post && !path_part.is_empty() {
            // Docusaurus: a link to another post file becomes its permalink.
            if let Some(url) = self.links.url_for_file(&file) {
                return Some(format!("{url}{fragment}"));
            }
            self.warn(
                value,
                at,
                format!("link to a post that is not in the blog: {value}"),
            );
        } else if !path_part.is_empty() && is_local_file(&file) {
            match self.assets.register(&file) {
                Ok(url) => return Some(format!("{url}{fragment}")),
                Err(err) => {
                    let msg = format!("{value} is not published: {err}");
                    self.warn(value, at, msg);
                }
            }
        } else if embed {
            let msg = format!("image not found: {value} (looked for {})", file.display());
            self.warn(value, at, msg);
        }
        self.page_url(value)
    }

    /// A path into the site's static folder (`../static/img/x.png`) is the
    /// URL Docusaurus serves it at (`{site_url}/img/x.png`), whether or not
    /// the file is there; a missing one is reported by its file name.
    fn static_url(
        &mut self,
        file: &Path,
        value: &str,
        embed: bool,
        at: Option<usize>,
    ) -> Option<String> {
        let dir = self.assets.static_dir()?;
        let rel = file.strip_prefix(dir).ok()?;
        let mut url = self.site.site_url.to_owned();
        for part in rel.components() {
            url.push('/');
            let name = part.as_os_str().to_string_lossy();
            url.extend(utf8_percent_encode(&name, PATH_SEGMENT));
        }
        if embed && !is_local_file(file) {
            let msg = format!("image not found: {value} (looked for {})", file.display());
            self.warn(value, at, msg);
        }
        Some(url)
    }

    fn page_url(&self, relative: &str) -> Option<String> {
        let page = self.page.as_ref()?;
        page.join(relative).ok().map(String::from)
    }
}

impl UrlMap for Resolver<'_> {
    fn map(&mut self, element: &str, attr: &str, value: &str, at: Option<usize>) -> Option<String> {
        // `src` and `poster` load a file into the page: a missing one is a
        // broken image, a missing link target may well be a page.
        let embed = attr == "src" || attr == "poster" || element == "img";
        self.resolve(value, embed, at)
    }
}

/// Something other than a folder is there (following links): a file to
/// publish, or a link or special file for the assets to refuse.
fn is_local_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_dir())
}

/// The scheme of an absolute URL (`https` in `https://x`), if it has one.
fn scheme_of(value: &str) -> Option<&str> {
    let colon = value.find(':')?;
    let scheme = &value[..colon];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then_some(scheme)
}

/// `%20` -> space: file names on disk are not URL-encoded.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Posts;
    impl LinkResolver for Posts {
        fn url_for_file(&self, abs_path: &Path) -> Option<String> {
            (abs_path == Path::new("/blog/2024/other.md"))
                .then(|| "https://example.org/blog/other".to_owned())
        }
    }

    fn with_resolver(check: impl FnOnce(&mut Resolver)) {
        let src = Document {
            path: Path::new("/blog/2025/post.md"),
            display_path: Path::new("blog/2025/post.md"),
            url: "https://example.org/blog/2025/post",
            body: "line one\n![x](./missing.png)\n",
            body_line: 5,
        };
        let site = Site {
            site_url: "https://example.org",
        };
        let assets = Assets::new(
            "https://example.org/blog/assets",
            crate::posts::confined::Roots::new(["/blog"]),
        );
        let mut r = Resolver::new(&src, &site, &Posts, &assets);
        check(&mut r);
    }

    #[test]
    fn site_absolute_paths_get_the_site_url() {
        with_resolver(|r| {
            let got = r.map("img", "src", "/img/x.png", None);
            assert_eq!(got.as_deref(), Some("https://example.org/img/x.png"));
        });
    }

    #[test]
    fn anchors_point_into_the_post_page() {
        with_resolver(|r| {
            let got = r.map("a", "href", "#intro", None);
            assert_eq!(
                got.as_deref(),
                Some("https://example.org/blog/2025/post#intro")
            );
        });
    }

    #[test]
    fn relative_post_links_become_permalinks_and_keep_their_fragment() {
        with_resolver(|r| {
            let got = r.map("a", "href", "../2024/other.md#part", None);
            assert_eq!(got.as_deref(), Some("https://example.org/blog/other#part"));
            assert!(r.warnings.is_empty());
        });
    }

    #[test]
    fn dangerous_schemes_are_dropped_and_safe_ones_kept() {
        with_resolver(|r| {
            assert_eq!(r.map("a", "href", "javascript:alert(1)", None), None);
            assert_eq!(r.map("a", "href", " JavaScript:alert(1)", None), None);
            assert_eq!(r.map("img", "src", "data:image/png;base64,xx", None), None);
            assert_eq!(
                r.map("a", "href", "mailto:a@b.nl", None).as_deref(),
                Some("mailto:a@b.nl")
            );
            assert_eq!(
                r.map("a", "href", "//cdn.example/x", None).as_deref(),
                Some("https://cdn.example/x")
            );
        });
    }

    #[test]
    fn missing_relative_images_resolve_against_the_page_and_warn_with_a_line() {
        with_resolver(|r| {
            let got = r.map("img", "src", "./missing.png", None);
            assert_eq!(
                got.as_deref(),
                Some("https://example.org/blog/2025/missing.png")
            );
            assert_eq!(r.warnings.len(), 1);
            let w = &r.warnings[0];
            assert!(w.message.contains("./missing.png"), "{}", w.message);
            assert_eq!((w.line, w.column), (Some(6), Some(6)));
        });
    }

    #[test]
    fn relative_page_links_resolve_against_the_post_url_without_warning() {
        with_resolver(|r| {
            let got = r.map("a", "href", "../2024/some-page", None);
            assert_eq!(
                got.as_deref(),
                Some("https://example.org/blog/2024/some-page")
            );
            assert!(r.warnings.is_empty());
        });
    }

    #[test]
    fn a_repeated_missing_image_is_reported_once() {
        with_resolver(|r| {
            let first = r.map("img", "src", "./missing.png", None);
            let second = r.map("img", "src", "./missing.png", None);
            assert_eq!(first, second);
            assert_eq!(r.warnings.len(), 1);
        });
    }

    #[test]
    fn links_to_unknown_posts_warn() {
        with_resolver(|r| {
            r.map("a", "href", "./gone.md", None);
            assert_eq!(r.warnings.len(), 1);
        });
    }

    #[test]
    fn percent_escapes_and_dot_segments_are_undone_for_files() {
        assert_eq!(percent_decode("my%20pic%zz.png"), "my pic%zz.png");
        assert_eq!(
            normalize_path(Path::new("/a/b/./../c/d.png")),
            PathBuf::from("/a/c/d.png")
        );
    }
}
