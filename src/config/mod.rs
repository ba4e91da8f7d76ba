//! Feed definitions: one `feeds/<blog>.toml` per blog. `parse` turns text into
//! a validated [`BlogConfig`]; `load` adds the file system (reading the file and
//! resolving relative paths against the file's folder), so tests can parse
//! strings without touching disk. Every mistake in the text is one
//! [`ConfigError`] at `path:line:col` (see `error`); values are checked while
//! they are read (`values`, `email`), so the place is the value's own. The
//! parts other layers read on their own have their own modules:
//! `subscribers`, `email` (with `dkim`), `delivery`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::model::Format;
use crate::paths::normalize_path;

pub mod delivery;
pub mod dkim;
pub mod email;
mod error;
pub mod lint;
pub mod serve;
pub mod state;
pub mod subscribers;
mod values;

pub use delivery::DeliverySettings;
use email::RawEmail;
pub use email::{EmailConfig, EmailTransport};
pub use error::ConfigError;
pub use serve::ServeConfig;
pub use state::{DatabaseUrl, StateLocation};
use subscribers::{RawSubscribers, SubscribersField};
use values::RawSource;

/// The TOML as written. Unknown keys are rejected so a typo is an error that
/// names the key instead of a setting silently ignored. Values that can be
/// wrong beyond their type are checked as they are read (see `values`), so
/// their errors carry their line and column.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(deserialize_with = "values::site_url")]
    site_url: String,
    #[serde(default)]
    blog_path: Option<String>,
    #[serde(default, deserialize_with = "values::feeds_url")]
    feeds_url: Option<String>,
    #[serde(default)]
    language: Option<String>,
    source: RawSource,
    #[serde(default)]
    tags_file: Option<PathBuf>,
    #[serde(default)]
    authors_file: Option<PathBuf>,
    /// Docusaurus's `static/` folder, served at the site root.
    #[serde(default)]
    static_dir: Option<PathBuf>,
    #[serde(default)]
    output: Option<PathBuf>,
    #[serde(default, deserialize_with = "values::formats")]
    formats: Option<Vec<Format>>,
    #[serde(default, deserialize_with = "values::limit")]
    limit: Option<usize>,
    #[serde(default)]
    by_tag: Option<bool>,
    #[serde(default)]
    by_author: Option<bool>,
    #[serde(default, deserialize_with = "values::timezone")]
    timezone: Option<chrono_tz::Tz>,
    #[serde(default)]
    subscribers: Option<RawSubscribers>,
    #[serde(default)]
    email: Option<RawEmail>,
    #[serde(default)]
    delivery: DeliverySettings,
    /// What was announced and delivered: an SQLite file, or a
    /// `postgres://` URL (see `state`).
    #[serde(default)]
    state: Option<String>,
    /// Folder whose files override the built-in message templates.
    #[serde(default)]
    templates: Option<PathBuf>,
    /// WebSub hub announced as `rel=hub` and pinged when feeds change.
    #[serde(default, deserialize_with = "values::websub_hub")]
    websub_hub: Option<String>,
    /// Subscription pages (`postbode serve`).
    #[serde(default)]
    serve: Option<serve::RawServe>,
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
    /// `static_dir` as configured: absolute for a folder source, as written
    /// (relative to the checkout root) for a git source. See
    /// [`BlogConfig::static_folder`] for the default.
    pub static_dir: Option<PathBuf>,
    pub output: PathBuf,
    pub formats: Vec<Format>,
    pub limit: usize,
    pub by_tag: bool,
    pub by_author: bool,
    pub timezone: chrono_tz::Tz,
    /// As written, with their places; checked by [`subscribers::resolve`].
    pub subscribers: Option<SubscribersField>,
    pub email: Option<EmailConfig>,
    pub delivery: DeliverySettings,
    /// Default: `state.db` in the project folder (see [`project_dir`]);
    /// `POSTBODE_DATABASE_URL` overrides it (see [`load`]).
    pub state: StateLocation,
    pub templates: Option<PathBuf>,
    /// WebSub hub URL (`rel=hub` in every feed, pinged after a change).
    pub websub_hub: Option<String>,
    /// `[serve]`: the subscription pages, and the links to them in emails.
    pub serve: Option<ServeConfig>,
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

    /// The folder Docusaurus serves at the site root (`static/img/x.png` is
    /// `{site_url}/img/x.png`): `static_dir`, else the `static/` folder beside
    /// the blog folder when there is one. For a git source both stay inside
    /// the checkout. Meaningful once the source is on disk.
    pub fn static_folder(&self) -> Option<PathBuf> {
        let site = self.source.parent()?;
        let Some(git) = &self.git else {
            return match &self.static_dir {
                Some(dir) => Some(dir.clone()),
                None => Some(site.join("static")).filter(|d| d.is_dir()),
            };
        };
        let depth = git.path.components().count();
        let root = self.source.ancestors().nth(depth)?;
        let inside = |p: PathBuf| Some(normalize_path(&p)).filter(|p| p.starts_with(root));
        match &self.static_dir {
            Some(dir) => inside(root.join(dir)),
            None if depth > 0 => inside(site.join("static")).filter(|d| d.is_dir()),
            None => None,
        }
    }
}

/// Reads and validates a feed definition.
pub fn load(path: &Path) -> Result<BlogConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut config = parse(&text, path)?;
    // The environment, not the file: a database URL often holds a password.
    if let Some(url) = std::env::var(state::DATABASE_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        config.state = StateLocation::parse(&url);
    }
    Ok(config)
}

/// Validates a feed definition's text; `path` names it in errors and anchors
/// its relative paths.
pub fn parse(text: &str, path: &Path) -> Result<BlogConfig, ConfigError> {
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| error::locate(text, &e).into_error(path.to_path_buf()))?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    // Lexically normalised, so diagnostics say `blog/a.md`, not
    // `feeds/../blog/a.md`.
    let resolve = |p: &Path| {
        if p.is_absolute() {
            normalize_path(p)
        } else {
            normalize_path(&base.join(p))
        }
    };
    let project = project_dir(&base);

    let site_url = raw.site_url;
    let blog_path = normalize_route(raw.blog_path.as_deref().unwrap_or("/blog"));
    let feeds_url = match raw.feeds_url {
        Some(u) => u,
        None if blog_path == "/" => site_url.clone(),
        None => format!("{site_url}{blog_path}"),
    };
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
            let git = GitSource {
                url: g.git,
                branch: g.branch.unwrap_or_else(|| "main".to_string()),
                path: g.path.unwrap_or_else(|| PathBuf::from("blog")),
                tags_file: raw.tags_file,
                authors_file: raw.authors_file,
            };
            (PathBuf::new(), Some(git), None, None)
        }
    };
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "blog".to_string());
    let output = match raw.output {
        Some(p) => resolve(&p),
        None => project.join("out").join(&name),
    };
    let static_dir = match &git {
        Some(_) => raw.static_dir,
        None => raw.static_dir.map(|p| resolve(&p)),
    };
    let subscribers = raw.subscribers.map(|s| s.with_text(Arc::from(text)));
    let email = raw
        .email
        .map(|e| EmailConfig::from_raw(e, &base, &project, text))
        .transpose()
        .map_err(|e| e.into_error(path.to_path_buf()))?;
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
        static_dir,
        output,
        formats: raw
            .formats
            .unwrap_or_else(|| vec![Format::Atom, Format::Rss, Format::Json]),
        limit: raw.limit.unwrap_or(20),
        by_tag: raw.by_tag.unwrap_or(true),
        by_author: raw.by_author.unwrap_or(true),
        timezone: raw.timezone.unwrap_or(chrono_tz::UTC),
        subscribers,
        email,
        delivery: raw.delivery,
        state: match raw.state.as_deref().map(StateLocation::parse) {
            Some(StateLocation::File(p)) => StateLocation::File(resolve(&p)),
            Some(url) => url,
            None => StateLocation::File(project.join("state.db")),
        },
        templates: raw.templates.map(|p| resolve(&p)),
        websub_hub: raw.websub_hub,
        serve: raw.serve.map(ServeConfig::from),
    })
}

/// Where the defaults (`out/<name>`, `state.db`, `outbox/`) go: the
/// project folder, which is the definition's own folder, or the folder
/// above it when that is `feeds/` (the convention `run` without arguments
/// reads). So generated files and the state never land among the feed
/// definitions (which are often in git, and all read as TOML), and they do
/// not depend on the working directory a cron job or a timer starts in.
pub fn project_dir(definition_dir: &Path) -> PathBuf {
    if definition_dir.file_name().is_some_and(|n| n == "feeds") {
        let up = normalize_path(&definition_dir.join(".."));
        // `feeds/` in the working directory: plain relative defaults.
        if up == Path::new(".") {
            PathBuf::new()
        } else {
            up
        }
    } else {
        definition_dir.to_path_buf()
    }
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
mod tests;
