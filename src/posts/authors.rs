//! Authors as Docusaurus resolves them (`authors.ts`): keys from `authors.yml`,
//! inline objects (which may override a key's fields), and the legacy
//! single-author fields (`author`, `author_url`/`authorURL`, ...).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::frontmatter::{AuthorEntry, FrontMatter};
use super::{At, Context};
use crate::diag::Diagnostic;
use crate::model::Author;

/// One author as written in `authors.yml` or inline in front matter.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuthorFields {
    pub key: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub email: Option<String>,
    #[serde(alias = "imageURL")]
    pub image_url: Option<String>,
    /// `true` or `{permalink}`: the author has a page on the blog. Other
    /// keys Docusaurus knows (`socials`, `description`) are ignored.
    #[serde(default)]
    pub page: Option<serde_json::Value>,
}

/// More authors than this on one post are dropped (with a warning): each
/// is a feed that carries the post, and every item lists them all.
pub const MAX_AUTHORS_PER_POST: usize = 100;

#[derive(Debug, Default)]
pub struct AuthorsFile {
    authors: HashMap<String, AuthorFields>,
}

impl AuthorsFile {
    pub fn load(path: &Path, problems: &mut Vec<Diagnostic>) -> Option<AuthorsFile> {
        let map: Option<HashMap<String, AuthorFields>> = super::yaml::read_file(path, problems)?;
        Some(AuthorsFile {
            authors: map.unwrap_or_default(),
        })
    }

    pub fn get(&self, key: &str) -> Option<&AuthorFields> {
        self.authors.get(key)
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.authors.keys().cloned().collect();
        keys.sort();
        keys
    }
}

/// Docusaurus `toAuthor`: the map entry for the key, overridden field by
/// field by what the front matter says inline. `authors_route` is the blog's
/// `/blog/authors`, where author pages live.
pub fn merge(base: Option<&AuthorFields>, inline: &AuthorFields, authors_route: &str) -> Author {
    let pick = |f: fn(&AuthorFields) -> &Option<String>| {
        f(inline)
            .clone()
            .or_else(|| base.and_then(|b| f(b).clone()))
    };
    Author {
        key: inline.key.clone(),
        name: pick(|a| &a.name),
        title: pick(|a| &a.title),
        url: pick(|a| &a.url),
        email: pick(|a| &a.email),
        image_url: pick(|a| &a.image_url),
        page: page_permalink(base, inline, authors_route),
    }
}

/// `page: true` gives `/blog/authors/<key>`; `page: {permalink: x}` gives
/// `/blog/authors/x`.
fn page_permalink(
    base: Option<&AuthorFields>,
    inline: &AuthorFields,
    route: &str,
) -> Option<String> {
    let page = inline
        .page
        .as_ref()
        .or(base.and_then(|b| b.page.as_ref()))?;
    let slug = match page {
        serde_json::Value::Bool(true) => inline.key.clone()?,
        serde_json::Value::Object(o) => o.get("permalink")?.as_str()?.to_string(),
        _ => return None,
    };
    Some(format!(
        "{}/{}",
        route.trim_end_matches('/'),
        slug.trim_matches('/')
    ))
}

/// The authors of one post: `authors` entries (keys looked up in the
/// authors file, inline objects overriding them) or the legacy fields, never
/// both. `Err` when the post is to be left out.
pub(super) fn post_authors(
    cx: &Context,
    fm: &FrontMatter,
    path: &Path,
    at: &At,
    problems: &mut Vec<Diagnostic>,
) -> Result<Vec<Author>, ()> {
    let legacy = legacy_author(fm);
    let Some(entries) = &fm.authors else {
        return Ok(legacy.into_iter().collect());
    };
    let (line, col) = at(&entries.referenced);
    if legacy.is_some() {
        problems.push(
            Diagnostic::error(
                path,
                "use either `authors` or the legacy `author*` fields, not both",
            )
            .at(line, col),
        );
        return Err(());
    }
    let mut out = Vec::new();
    let all = entries.value.as_slice();
    if all.len() > MAX_AUTHORS_PER_POST {
        problems.push(
            Diagnostic::warning(
                path,
                format!("authors: the post has {} authors; only the first {MAX_AUTHORS_PER_POST} are kept", all.len()),
            )
            .at(line, col),
        );
    }
    for entry in all.iter().take(MAX_AUTHORS_PER_POST) {
        let inline = match entry {
            AuthorEntry::Key(key) => AuthorFields {
                key: Some(key.trim().to_string()),
                ..Default::default()
            },
            AuthorEntry::Inline(fields) => (**fields).clone(),
        };
        let base = match inline.key.as_deref() {
            Some(key) => {
                let found = cx.authors.as_ref().and_then(|a| a.get(key));
                if found.is_none() {
                    problems.push(
                        Diagnostic::warning(
                            path,
                            format!("authors: {key:?} is not in the authors file; the key is used as the name"),
                        )
                        .at(line, col),
                    );
                }
                found
            }
            None => None,
        };
        let mut author = merge(base, &inline, &cx.authors_route);
        if author.name.is_none() && base.is_none() {
            author.name = author.key.clone();
        }
        out.push(author);
    }
    Ok(out)
}

/// Docusaurus `getFrontMatterAuthorLegacy`.
fn legacy_author(fm: &FrontMatter) -> Option<Author> {
    let author = Author {
        key: None,
        name: fm.author.clone(),
        title: fm.author_title.clone(),
        url: fm.author_url.clone(),
        email: None,
        image_url: fm.author_image_url.clone(),
        page: None,
    };
    (author.name.is_some()
        || author.title.is_some()
        || author.url.is_some()
        || author.image_url.is_some())
    .then_some(author)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_fields_override_the_authors_file_entry() {
        let base = AuthorFields {
            name: Some("Anna".into()),
            title: Some("Dev".into()),
            email: Some("a@example.org".into()),
            ..Default::default()
        };
        let inline = AuthorFields {
            key: Some("anna".into()),
            title: Some("Lead".into()),
            ..Default::default()
        };
        let a = merge(Some(&base), &inline, "/blog/authors");
        assert_eq!(a.key.as_deref(), Some("anna"));
        assert_eq!(a.name.as_deref(), Some("Anna"));
        assert_eq!(a.title.as_deref(), Some("Lead"));
        assert_eq!(a.email.as_deref(), Some("a@example.org"));
    }

    #[test]
    fn the_authors_file_accepts_image_url_in_both_spellings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authors.yml");
        std::fs::write(
            &path,
            "a:\n  name: A\n  image_url: /a.png\n  socials:\n    github: a\nb:\n  name: B\n  imageURL: /b.png\n  page: true\n",
        )
        .unwrap();
        let mut problems = Vec::new();
        let file = AuthorsFile::load(&path, &mut problems).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(file.get("a").unwrap().image_url.as_deref(), Some("/a.png"));
        assert_eq!(file.get("b").unwrap().image_url.as_deref(), Some("/b.png"));
    }
}
