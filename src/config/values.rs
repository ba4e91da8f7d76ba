//! The values of a feed definition that can be wrong in more ways than their
//! TOML type: URLs, the time zone, the post source, limits. Each is checked
//! while it is deserialised, so a bad value is a TOML error carrying the
//! value's span (and so its line and column), not a message about the whole
//! file after the fact. What they produce is what `BlogConfig` stores.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, Error as _, MapAccess, Visitor};

use super::error::closest;
use crate::model::Format;

/// `https://example.org`: an http(s) origin, stored without trailing slash.
pub(super) fn site_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    let url = http_url::<D::Error>(&text)?;
    if url.path() != "/" {
        // Docusaurus's `baseUrl` is folded into `blog_path` here, which keeps
        // one notion of "site-relative" for permalinks.
        return Err(D::Error::custom(format!(
            "{text:?} must not have a path; put the path in blog_path"
        )));
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// Any absolute URL, stored without trailing slash.
pub(super) fn feeds_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    url::Url::parse(&text).map_err(|e| D::Error::custom(format!("{text:?} is not a URL ({e})")))?;
    Ok(Some(text.trim_end_matches('/').to_string()))
}

/// An http(s) URL, stored as written.
pub(super) fn websub_hub<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    http_url::<D::Error>(&text)?;
    Ok(Some(text))
}

fn http_url<E: de::Error>(text: &str) -> Result<url::Url, E> {
    let url =
        url::Url::parse(text).map_err(|e| E::custom(format!("{text:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(E::custom(format!("{text:?} must be an http or https URL")));
    }
    Ok(url)
}

/// An IANA time zone name such as `Europe/Amsterdam`.
pub(super) fn timezone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<chrono_tz::Tz>, D::Error> {
    let name = String::deserialize(d)?;
    if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
        return Ok(Some(tz));
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    Err(D::Error::custom(match closest(&name, names) {
        Some(near) => format!("unknown time zone {name:?} (did you mean {near:?}?)"),
        None => {
            format!("unknown time zone {name:?} (use an IANA name such as \"Europe/Amsterdam\")")
        }
    }))
}

/// How many posts a feed holds: at least one.
pub(super) fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match usize::deserialize(d)? {
        0 => Err(D::Error::custom("must be at least 1")),
        n => Ok(Some(n)),
    }
}

/// The feed formats to write: at least one.
pub(super) fn formats<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Format>>, D::Error> {
    let formats = Vec::<Format>::deserialize(d)?;
    if formats.is_empty() {
        return Err(D::Error::custom(
            "name at least one format (\"atom\", \"rss\" or \"json\")",
        ));
    }
    Ok(Some(formats))
}

/// `source = "blog"` or `source = { git = "https://…", branch = "main", path = "blog" }`.
#[derive(Debug)]
pub(super) enum RawSource {
    Path(PathBuf),
    Git(RawGit),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGit {
    #[serde(deserialize_with = "repository")]
    pub git: String,
    #[serde(default, deserialize_with = "branch")]
    pub branch: Option<String>,
    #[serde(default, deserialize_with = "folder_inside")]
    pub path: Option<PathBuf>,
}

// By hand rather than `#[serde(untagged)]`: untagged says only "data did not
// match any variant", and loses the spans of the git table's own errors.
impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SourceVisitor;
        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = RawSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a folder (\"blog\") or a git repository \
                     ({ git = \"https://…\", branch = \"main\", path = \"blog\" })",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSource, E> {
                Ok(RawSource::Path(PathBuf::from(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawSource, A::Error> {
                RawGit::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawSource::Git)
            }
        }
        d.deserialize_any(SourceVisitor)
    }
}

fn repository<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    if url.trim().is_empty() {
        return Err(D::Error::custom("must be a repository URL"));
    }
    Ok(url)
}

/// A name git will not read as an option or a range.
fn branch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(d)?;
    if name.is_empty() || name.starts_with('-') || name.contains("..") {
        return Err(D::Error::custom(format!("{name:?} is not a branch name")));
    }
    Ok(Some(name))
}

/// A relative path that cannot climb out of the checkout.
fn folder_inside<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let path = PathBuf::deserialize(d)?;
    if !inside(&path) {
        return Err(D::Error::custom(format!(
            "{:?} must be a folder inside the repository",
            path.display().to_string()
        )));
    }
    Ok(Some(path))
}

fn inside(path: &Path) -> bool {
    path.is_relative() && !path.components().any(|c| c == Component::ParentDir)
}
