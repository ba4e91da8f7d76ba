//! Tags as Docusaurus resolves them: keys declared in `tags.yml` (its `tags`
//! option) and inline tags, with permalinks made by lodash's `kebabCase`
//! (see `lodash`).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::frontmatter::{FrontMatter, TagEntry};
use super::lodash::{capitalize, kebab_case};
use super::{At, Context};
use crate::diag::Diagnostic;
use crate::memory::FastMap;
use crate::model::Tag;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagDefinition {
    label: Option<String>,
    description: Option<String>,
    permalink: Option<Spanned<String>>,
}

/// More tags than this on one post are dropped (with a warning): every tag
/// is a feed that carries the post, and every item lists its tags, so a
/// post with 20,000 tags would write gigabytes. Real posts have a handful.
pub const MAX_TAGS_PER_POST: usize = 100;

/// The declared tags, by key.
#[derive(Debug, Default)]
pub struct TagsFile {
    tags: HashMap<String, TagDefinition>,
    /// Keys whose permalink cannot be a feed folder (reported at load).
    rejected: HashSet<String>,
}

impl TagsFile {
    pub fn load(path: &Path, problems: &mut Vec<Diagnostic>) -> Option<TagsFile> {
        let map: Option<HashMap<String, Option<TagDefinition>>> =
            super::yaml::read_file(path, problems)?;
        let tags: HashMap<String, TagDefinition> = map
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        let mut rejected = HashSet::new();
        let mut keys: Vec<&String> = tags.keys().collect();
        keys.sort();
        for key in keys {
            let def = &tags[key];
            let written = def
                .permalink
                .as_ref()
                .map_or_else(|| format!("/{}", kebab_case(key)), |p| p.value.clone());
            let Some(why) = permalink_problem(&written) else {
                continue;
            };
            let mut diag = Diagnostic::error(
                path,
                format!(
                    "tag {key:?}: the permalink {written:?} {why}; the tag is left out of every post and gets no feed. Give it a permalink such as \"/{}\"",
                    suggested_slug(key)
                ),
            );
            if let Some(p) = &def.permalink {
                let loc = p.referenced;
                diag = diag.at(loc.line() as usize, loc.column() as usize);
            } else if let Some(line) = key_line(path, key) {
                diag = diag.at(line, 1);
            }
            problems.push(diag);
            rejected.insert(key.clone());
        }
        Some(TagsFile { tags, rejected })
    }

    /// Whether `key` is declared with a permalink that was rejected.
    pub fn is_rejected(&self, key: &str) -> bool {
        self.rejected.contains(key)
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The declared keys a post can carry (not the rejected ones), sorted:
    /// what a subscriber may choose from.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .tags
            .keys()
            .filter(|k| !self.rejected.contains(*k))
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    /// Every declared key resolved (see [`TagsFile::resolve`]): done once
    /// per load, not for each of the 150,000 tags 50,000 posts carry, where
    /// `kebab_case` alone was a twentieth of reading them.
    pub fn resolve_all(&self, tags_route: &str) -> FastMap<String, Tag> {
        (self.tags.keys())
            .filter_map(|key| Some((key.clone(), self.resolve(key, tags_route)?)))
            .collect()
    }

    /// Docusaurus `normalizeTagsFile` + `normalizeTag` for a declared key.
    pub fn resolve(&self, key: &str, tags_route: &str) -> Option<Tag> {
        let def = self.tags.get(key)?;
        let permalink = def
            .permalink
            .as_ref()
            .map_or_else(|| format!("/{}", kebab_case(key)), |p| p.value.clone());
        Some(Tag {
            key: key.to_string(),
            label: def.label.clone().unwrap_or_else(|| capitalize(key)),
            permalink: join_route(tags_route, &permalink),
            description: def.description.clone(),
            inline: false,
        })
    }
}

/// A tag written as a plain string that the tags file does not declare.
pub fn inline_tag(label: &str, tags_route: &str) -> Tag {
    Tag {
        key: label.to_string(),
        label: label.to_string(),
        permalink: join_route(tags_route, &kebab_case(label)),
        description: None,
        inline: true,
    }
}

/// A tag written as `{label, permalink}` in front matter.
pub fn inline_object_tag(label: &str, permalink: &str, tags_route: &str) -> Tag {
    Tag {
        key: label.to_string(),
        label: label.to_string(),
        permalink: join_route(tags_route, permalink),
        description: None,
        inline: true,
    }
}

/// Why a tag permalink, as written, cannot name a feed folder: a tag's feeds
/// live in `tags/<last segment>`, so that segment must be a plain name (not
/// empty, `.` or `..`, without `\\`), and no segment may climb out with
/// `..` (the URL would point at another page).
pub fn permalink_problem(written: &str) -> Option<&'static str> {
    let trimmed = written.trim_matches('/');
    if trimmed.trim().is_empty() {
        return Some("is empty (it would be the tags page itself)");
    }
    if trimmed.contains('\\') {
        return Some("contains a backslash");
    }
    if trimmed.split('/').any(|s| s == "." || s == "..") {
        return Some("contains a `.` or `..` segment");
    }
    if trimmed.split('/').any(str::is_empty) {
        return Some("contains an empty segment (`//`)");
    }
    None
}

/// The line where `key:` starts a top-level entry (keys carry no location
/// once parsed into a map); only read again for a rejected tag.
fn key_line(path: &Path, key: &str) -> Option<usize> {
    let text = String::from_utf8(super::confined::read_regular(path).ok()?).ok()?;
    let forms = [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ];
    text.lines()
        .position(|l| forms.iter().any(|f| l.starts_with(f.as_str())))
        .map(|i| i + 1)
}

/// A permalink to suggest for a tag whose own was rejected.
fn suggested_slug(key: &str) -> String {
    let slug = kebab_case(key);
    if slug.is_empty() {
        "my-tag".to_owned()
    } else {
        slug
    }
}

/// Docusaurus `normalizeUrl([tagsRoute, permalink])` for the simple case of
/// two path pieces: one slash between them, none doubled.
fn join_route(base: &str, rest: &str) -> String {
    let rest = rest.trim_start_matches('/');
    let base = base.trim_end_matches('/');
    format!("{base}/{rest}")
}

/// The tags of one post: front matter keys resolved through the tags file
/// (an undeclared key is an inline tag, with a warning when there is a
/// tags file), inline objects as written.
pub(super) fn post_tags(
    cx: &Context,
    fm: &FrontMatter,
    path: &Path,
    at: &At,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Tag> {
    let Some(entries) = &fm.tags else {
        return Vec::new();
    };
    let mut out: Vec<Tag> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let (line, col) = at(&entries.referenced);
    for entry in entries.value.iter().flatten() {
        let tag = match entry {
            TagEntry::Key(key) => {
                let key = key.trim();
                if key.is_empty() || cx.tags.as_ref().is_some_and(|t| t.is_rejected(key)) {
                    continue;
                }
                match cx.declared_tags.get(key) {
                    Some(tag) => tag.clone(),
                    None => {
                        if cx.tags.as_ref().is_some_and(|t| !t.is_empty()) {
                            let (l, c) = (line, col);
                            problems.push(
                                Diagnostic::warning(
                                    path,
                                    format!("tags: {key:?} is not declared in the tags file; used as an inline tag"),
                                )
                                .at(l, c),
                            );
                        }
                        inline_tag(key, &cx.tags_route)
                    }
                }
            }
            TagEntry::Inline { label, permalink } => {
                if let Some(why) = permalink_problem(permalink) {
                    problems.push(Diagnostic::error(
                        path,
                        format!("tags: the permalink {permalink:?} of tag {label:?} {why}; the tag is left out and gets no feed. Use a permalink such as \"/{}\"", suggested_slug(label)),
                    ).at(line, col));
                    continue;
                }
                inline_object_tag(label, permalink, &cx.tags_route)
            }
        };
        if let TagEntry::Key(key) = entry
            && tag.inline
            && let Some(why) = permalink_problem(&kebab_case(key.trim()))
        {
            problems.push(
                Diagnostic::error(
                    path,
                    format!("tags: the tag {:?} has no letters or digits for its permalink, which {why}; the tag is left out. Declare it in the tags file with a permalink, or rename it", key.trim()),
                )
                .at(line, col),
            );
            continue;
        }
        // Docusaurus: `uniqBy(tags, permalink)`, the first one wins.
        if !seen.insert(tag.permalink.clone()) {
            continue;
        }
        if out.len() == MAX_TAGS_PER_POST {
            problems.push(
                Diagnostic::warning(
                    path,
                    format!("tags: the post has {} tags; only the first {MAX_TAGS_PER_POST} are kept. Split them over fewer, broader tags", entries.value.len()),
                )
                .at(line, col),
            );
            break;
        }
        out.push(tag);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_tags_get_lodash_slugs_also_for_letters_beyond_latin_1() {
        let tag = inline_tag("Łódź & Straße", "/blog/tags/");
        assert_eq!(tag.permalink, "/blog/tags/lodz-strasse");
        assert_eq!(tag.label, "Łódź & Straße");
    }

    #[test]
    fn declared_tags_use_label_description_and_permalink_with_docusaurus_defaults() {
        let mut problems = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tags.yml");
        std::fs::write(
            &path,
            "ipv6:\n  label: IPv6\ncio:\nfoss:\n  label: FOSS\n  permalink: /free\n  description: Free software\n",
        )
        .unwrap();
        let tags = TagsFile::load(&path, &mut problems).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let ipv6 = tags.resolve("ipv6", "/blog/tags").unwrap();
        assert_eq!(
            (ipv6.label.as_str(), ipv6.permalink.as_str()),
            ("IPv6", "/blog/tags/ipv-6")
        );
        let cio = tags.resolve("cio", "/blog/tags").unwrap();
        assert_eq!(
            (cio.label.as_str(), cio.permalink.as_str()),
            ("Cio", "/blog/tags/cio")
        );
        let foss = tags.resolve("foss", "/tags").unwrap();
        assert_eq!(foss.permalink, "/tags/free");
        assert_eq!(foss.description.as_deref(), Some("Free software"));
        assert!(tags.resolve("nope", "/blog/tags").is_none());
    }

    #[test]
    fn tags_whose_permalink_is_no_folder_name_are_rejected_at_their_line() {
        let mut problems = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tags.yml");
        std::fs::write(
            &path,
            "ok:\n  label: OK\nup:\n  permalink: /..\n\"???\":\n  label: Q\nnested:\n  permalink: /a/b\n",
        )
        .unwrap();
        let tags = TagsFile::load(&path, &mut problems).unwrap();
        let places: Vec<_> = problems.iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(
            places,
            [(Some(5), Some(1)), (Some(4), Some(14))],
            "{problems:?}"
        );
        assert!(tags.is_rejected("up") && tags.is_rejected("???"));
        assert!(!tags.is_rejected("ok") && !tags.is_rejected("nested"));
        for bad in ["/..", ".", "", "/", "a/../b", "a\\b", "a//b"] {
            assert!(permalink_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(permalink_problem("/free/software"), None);
    }

    #[test]
    fn a_broken_tags_file_is_reported_with_its_line() {
        let mut problems = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tags.yml");
        std::fs::write(&path, "a:\n  label: A\nb:\n  label: [unclosed\n").unwrap();
        assert!(TagsFile::load(&path, &mut problems).is_none());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].line.is_some(), "{:?}", problems[0]);
    }
}
