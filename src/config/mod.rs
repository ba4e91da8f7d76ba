//! Feed definitions: one `feeds/<blog>.toml` per blog. `parse` turns text into
//! a validated [`BlogConfig`]; `load` adds the file system (reading the file and
//! resolving relative paths against the file's folder), so tests can parse
//! strings without touching disk.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::model::Format;
use crate::text::line_col;
pub mod subscribers;

use subscribers::{DeliverySettings, EmailConfig, RawEmail, SubscribersField};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The TOML as written. Unknown keys are rejected so a typo is an error that
/// names the key instead of a setting silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    title: String,
    #[serde(default)]
    description: Option<String>,
    site_url: String,
    #[serde(default)]
    blog_path: Option<String>,
    #[serde(default)]
    feeds_url: Option<String>,
    #[serde(default)]
    language: Option<String>,
    source: RawSource,
    #[serde(default)]
    tags_file: Option<PathBuf>,
    #[serde(default)]
    authors_file: Option<PathBuf>,
    #[serde(default)]
    output: Option<PathBuf>,
    #[serde(default)]
    formats: Option<Vec<Format>>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    by_tag: Option<bool>,
    #[serde(default)]
    by_author: Option<bool>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    subscribers: Option<SubscribersField>,
    #[serde(default)]
    email: Option<RawEmail>,
    #[serde(default)]
    delivery: DeliverySettings,
    /// SQLite database with what was announced and delivered.
    #[serde(default)]
    state: Option<PathBuf>,
    /// Folder whose files override the built-in message templates.
    #[serde(default)]
    templates: Option<PathBuf>,
    /// WebSub hub announced as `rel=hub` and pinged when feeds change.
    #[serde(default)]
    websub_hub: Option<String>,
}

/// `source = "blog"` or `source = { git = "https://…", branch = "main", path = "blog" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSource {
    Path(PathBuf),
    Git(RawGit),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGit {
    git: String,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    path: Option<PathBuf>,
}

/// Posts read from a branch of a git repository, checked out by
/// [`crate::source::resolve`] into a cache folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// As written; may hold credentials, so print it only through
    /// [`crate::diag::redact_url`].
    pub url: String,
    /// Default `main`.
    pub branch: String,
    /// The blog folder inside the repository (default `blog`).
    pub path: PathBuf,
    /// `tags_file` and `authors_file` as written: relative ones are resolved
    /// against the checkout root once it exists.
    pub tags_file: Option<PathBuf>,
    pub authors_file: Option<PathBuf>,
}

/// A validated blog definition with absolute paths and normalised URLs.
#[derive(Debug, Clone)]
pub struct BlogConfig {
    /// The feed definition file this came from.
    pub file: PathBuf,
    /// File stem of the definition (`example` for `feeds/example.toml`).
    pub name: String,
    pub title: String,
    pub description: String,
    /// Without trailing slash: `https://developer.overheid.nl`.
    pub site_url: String,
    /// Route of the blog, Docusaurus's `routeBasePath`: `/blog`, or `/` for a
    /// blog served at the root. Always starts with `/`, never ends with one
    /// (except `/` itself).
    pub blog_path: String,
    /// Public URL of the output folder, without trailing slash.
    pub feeds_url: String,
    pub language: Option<String>,
    /// The blog folder (Docusaurus's `blog/`). For a git source this is
    /// empty until [`crate::source::resolve`] sets it to the checkout.
    pub source: PathBuf,
    /// Set when the posts come from a git repository.
    pub git: Option<GitSource>,
    pub tags_file: Option<PathBuf>,
    pub authors_file: Option<PathBuf>,
    pub output: PathBuf,
    pub formats: Vec<Format>,
    pub limit: usize,
    pub by_tag: bool,
    pub by_author: bool,
    pub timezone: chrono_tz::Tz,
    /// As written; checked by `notify::config::resolve`.
    pub subscribers: Option<SubscribersField>,
    pub email: Option<EmailConfig>,
    pub delivery: DeliverySettings,
    /// Default: `state.db` beside the feed definition.
    pub state: PathBuf,
    pub templates: Option<PathBuf>,
    /// WebSub hub URL (`rel=hub` in every feed, pinged after a change).
    pub websub_hub: Option<String>,
}

impl BlogConfig {
    /// Site-relative URL under the blog route: `join_blog("/tags")` is
    /// `/blog/tags`, or `/tags` for a blog at the root.
    pub fn blog_route(&self, rest: &str) -> String {
        let rest = rest.trim_start_matches('/');
        if self.blog_path == "/" {
            format!("/{rest}")
        } else if rest.is_empty() {
            self.blog_path.clone()
        } else {
            format!("{}/{rest}", self.blog_path)
        }
    }

    /// Absolute URL of a site-relative path.
    pub fn site_link(&self, path: &str) -> String {
        format!("{}{}", self.site_url, path)
    }
}

/// Reads and validates a feed definition.
pub fn load(path: &Path) -> Result<BlogConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Validates a feed definition's text; `path` names it in errors and anchors
/// its relative paths.
pub fn parse(text: &str, path: &Path) -> Result<BlogConfig, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((1, 1));
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().to_string(),
        }
    })?;
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };

    let site_url = raw.site_url.trim_end_matches('/').to_string();
    let parsed = url::Url::parse(&site_url)
        .map_err(|e| invalid(format!("site_url {site_url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "site_url {site_url:?} must be http or https"
        )));
    }
    if parsed.path() != "/" {
        // Docusaurus's `baseUrl` is folded into `blog_path` here, which keeps one
        // notion of "site-relative" for permalinks.
        return Err(invalid(format!(
            "site_url {site_url:?} must not have a path; put it in blog_path"
        )));
    }
    let blog_path = normalize_route(raw.blog_path.as_deref().unwrap_or("/blog"));
    let feeds_url = match raw.feeds_url {
        Some(u) => {
            url::Url::parse(&u)
                .map_err(|e| invalid(format!("feeds_url {u:?} is not a URL: {e}")))?;
            u.trim_end_matches('/').to_string()
        }
        None if blog_path == "/" => site_url.clone(),
        None => format!("{site_url}{blog_path}"),
    };
    let timezone_name = raw.timezone.as_deref().unwrap_or("UTC");
    let timezone: chrono_tz::Tz = timezone_name.parse().map_err(|_| {
        invalid(format!(
            "timezone {timezone_name:?} is not an IANA time zone"
        ))
    })?;
    let (source, git, tags_file, authors_file) = match raw.source {
        RawSource::Path(p) => {
            let source = resolve(&p);
            let tags_file = match raw.tags_file {
                Some(p) => Some(resolve(&p)),
                None => Some(source.join("tags.yml")).filter(|p| p.exists()),
            };
            let authors_file = match raw.authors_file {
                Some(p) => Some(resolve(&p)),
                None => Some(source.join("authors.yml")).filter(|p| p.exists()),
            };
            (source, None, tags_file, authors_file)
        }
        RawSource::Git(g) => {
            if g.git.trim().is_empty() {
                return Err(invalid("source.git must be a repository URL".into()));
            }
            let branch = g.branch.unwrap_or_else(|| "main".to_string());
            if branch.is_empty() || branch.starts_with('-') || branch.contains("..") {
                return Err(invalid(format!(
                    "source.branch {branch:?} is not a branch name"
                )));
            }
            let path = g.path.unwrap_or_else(|| PathBuf::from("blog"));
            let inside = |p: &Path| {
                p.is_relative() && !p.components().any(|c| c == std::path::Component::ParentDir)
            };
            if !inside(&path) {
                return Err(invalid(format!(
                    "source.path {:?} must be a folder inside the repository",
                    path.display().to_string()
                )));
            }
            let git = GitSource {
                url: g.git,
                branch,
                path,
                tags_file: raw.tags_file,
                authors_file: raw.authors_file,
            };
            (PathBuf::new(), Some(git), None, None)
        }
    };
    let websub_hub = match raw.websub_hub {
        Some(h) => {
            let u = url::Url::parse(&h)
                .map_err(|e| invalid(format!("websub_hub {h:?} is not a URL: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(invalid(format!("websub_hub {h:?} must be http or https")));
            }
            Some(h)
        }
        None => None,
    };
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "blog".to_string());
    let output = match raw.output {
        Some(p) => resolve(&p),
        None => base.join("out").join(&name),
    };
    let formats = raw
        .formats
        .unwrap_or_else(|| vec![Format::Atom, Format::Rss, Format::Json]);
    if formats.is_empty() {
        return Err(invalid("formats must name at least one format".into()));
    }
    let limit = raw.limit.unwrap_or(20);
    if limit == 0 {
        return Err(invalid("limit must be at least 1".into()));
    }
    Ok(BlogConfig {
        file: path.to_path_buf(),
        name,
        description: raw.description.unwrap_or_else(|| raw.title.clone()),
        title: raw.title,
        site_url,
        blog_path,
        feeds_url,
        language: raw.language,
        source,
        git,
        tags_file,
        authors_file,
        output,
        formats,
        limit,
        by_tag: raw.by_tag.unwrap_or(true),
        by_author: raw.by_author.unwrap_or(true),
        timezone,
        subscribers: raw.subscribers,
        email: raw.email.map(|e| EmailConfig::from_raw(e, &base)),
        delivery: raw.delivery,
        state: raw
            .state
            .map(|p| resolve(&p))
            .unwrap_or_else(|| base.join("state.db")),
        templates: raw.templates.map(|p| resolve(&p)),
        websub_hub,
    })
}

/// `blog/` -> `/blog`, `` or `/` -> `/`.
fn normalize_route(route: &str) -> String {
    let trimmed = route.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        format!("/{trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
title = "Example"
site_url = "https://example.org/"
source = "../examples/blog"
"#;

    #[test]
    fn defaults_follow_docusaurus_and_paths_are_relative_to_the_file() {
        let c = parse(MINIMAL, Path::new("/srv/feeds/example.toml")).unwrap();
        assert_eq!(c.site_url, "https://example.org");
        assert_eq!(c.blog_path, "/blog");
        assert_eq!(c.feeds_url, "https://example.org/blog");
        assert_eq!(c.source, Path::new("/srv/feeds/../examples/blog"));
        assert_eq!(c.output, Path::new("/srv/feeds/out/example"));
        assert_eq!(c.limit, 20);
        assert_eq!(c.formats.len(), 3);
        assert!(c.by_tag && c.by_author);
        assert_eq!(c.timezone, chrono_tz::UTC);
        assert_eq!(c.blog_route("/tags"), "/blog/tags");
    }

    #[test]
    fn a_blog_at_the_site_root_has_routes_without_prefix() {
        let text = format!("{MINIMAL}blog_path = \"/\"\n");
        let c = parse(&text, Path::new("x.toml")).unwrap();
        assert_eq!(c.blog_path, "/");
        assert_eq!(c.feeds_url, "https://example.org");
        assert_eq!(c.blog_route("tags"), "/tags");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_the_key_and_the_file() {
        let text = format!("{MINIMAL}limt = 5\n");
        let err = parse(&text, Path::new("feeds/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("feeds/x.toml:5:1"), "{err}");
        assert!(err.contains("limt"), "{err}");
    }

    #[test]
    fn a_git_source_keeps_its_spec_and_relative_tags_file() {
        let text = MINIMAL.replace(
            r#"source = "../examples/blog""#,
            r#"source = { git = "https://github.com/developer-overheid-nl/don-site", branch = "main", path = "blog" }
tags_file = "tags.yml"
websub_hub = "https://hub.example.org/""#,
        );
        let c = parse(&text, Path::new("/srv/feeds/x.toml")).unwrap();
        let git = c.git.unwrap();
        assert_eq!(git.url, "https://github.com/developer-overheid-nl/don-site");
        assert_eq!(git.branch, "main");
        assert_eq!(git.path, Path::new("blog"));
        assert_eq!(git.tags_file.as_deref(), Some(Path::new("tags.yml")));
        assert_eq!(c.tags_file, None);
        assert_eq!(c.websub_hub.as_deref(), Some("https://hub.example.org/"));
    }

    #[test]
    fn a_git_source_path_must_stay_inside_the_repository() {
        let text = MINIMAL.replace(
            r#"source = "../examples/blog""#,
            r#"source = { git = "https://example.org/r.git", path = "../etc" }"#,
        );
        let err = parse(&text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("inside the repository"), "{err}");
    }

    #[test]
    fn a_bad_timezone_is_an_error() {
        let text = format!("{MINIMAL}timezone = \"Mars/Olympus\"\n");
        let err = parse(&text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }
}
