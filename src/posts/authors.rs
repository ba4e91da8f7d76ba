//! Authors as Docusaurus resolves them (`authors.ts`): keys from `authors.yml`,
//! inline objects (which may override a key's fields), and the legacy
//! single-author fields (`author`, `author_url`/`authorURL`, ...).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

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
    /// Docusaurus keeps `socials`, `page`, `description`: accepted, unused.
    #[serde(default)]
    pub socials: Option<serde_json::Value>,
    #[serde(default)]
    pub page: Option<serde_json::Value>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default)]
pub struct AuthorsFile {
    authors: HashMap<String, AuthorFields>,
}

impl AuthorsFile {
    pub fn load(path: &Path, problems: &mut Vec<Diagnostic>) -> Option<AuthorsFile> {
        let text = match super::read_text(path) {
            Ok(t) => t,
            Err(d) => {
                problems.push(d);
                return None;
            }
        };
        match serde_saphyr::from_str::<Option<HashMap<String, AuthorFields>>>(&text) {
            Ok(map) => Some(AuthorsFile {
                authors: map.unwrap_or_default(),
            }),
            Err(e) => {
                problems.push(super::yaml_diagnostic(path, &text, &e, 0));
                None
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&AuthorFields> {
        self.authors.get(key)
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
