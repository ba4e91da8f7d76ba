//! Tags as Docusaurus resolves them: keys declared in `tags.yml` (its `tags`
//! option) and inline tags, with permalinks made by lodash's `kebabCase`
//! (which is why `ipv6` becomes `ipv-6`).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::diag::Diagnostic;
use crate::model::Tag;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagDefinition {
    label: Option<String>,
    description: Option<String>,
    permalink: Option<String>,
}

/// The declared tags, by key.
#[derive(Debug, Default)]
pub struct TagsFile {
    tags: HashMap<String, TagDefinition>,
}

impl TagsFile {
    pub fn load(path: &Path, problems: &mut Vec<Diagnostic>) -> Option<TagsFile> {
        let text = match super::read_text(path) {
            Ok(t) => t,
            Err(d) => {
                problems.push(d);
                return None;
            }
        };
        match serde_saphyr::from_str::<Option<HashMap<String, Option<TagDefinition>>>>(&text) {
            Ok(map) => Some(TagsFile {
                tags: map
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect(),
            }),
            Err(e) => {
                problems.push(super::yaml_diagnostic(path, &text, &e, 0));
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Docusaurus `normalizeTagsFile` + `normalizeTag` for a declared key.
    pub fn resolve(&self, key: &str, tags_route: &str) -> Option<Tag> {
        let def = self.tags.get(key)?;
        let permalink = def
            .permalink
            .clone()
            .unwrap_or_else(|| format!("/{}", kebab_case(key)));
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

/// Docusaurus `normalizeUrl([tagsRoute, permalink])` for the simple case of
/// two path pieces: one slash between them, none doubled.
fn join_route(base: &str, rest: &str) -> String {
    let rest = rest.trim_start_matches('/');
    let base = base.trim_end_matches('/');
    format!("{base}/{rest}")
}

/// lodash `capitalize`: first character upper case, the rest lower case.
fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.as_str().to_lowercase().chars())
            .collect(),
        None => String::new(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Upper,
    Lower,
    Digit,
    Other,
}

fn class(c: char) -> Class {
    if c.is_ascii_digit() {
        Class::Digit
    } else if c.is_uppercase() {
        Class::Upper
    } else if c.is_alphabetic() {
        Class::Lower
    } else {
        Class::Other
    }
}

/// lodash `kebabCase`: apostrophes dropped, accents folded, then words split
/// at separators, lower-to-upper steps (`fooBar`), the end of an upper-case
/// run before a capitalised word (`XMLHttp` -> `xml-http`) and letter/digit
/// steps (`ipv6` -> `ipv-6`), joined with `-` in lower case.
pub fn kebab_case(input: &str) -> String {
    let chars: Vec<char> = input
        .chars()
        .filter(|c| *c != '\'' && *c != '\u{2019}')
        .map(deburr)
        .collect();
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let cls = class(c);
        if cls == Class::Other {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|j| chars.get(j)) {
            let prev_cls = class(prev);
            let next_cls = chars.get(i + 1).map(|&n| class(n));
            let boundary = match (prev_cls, cls) {
                (Class::Lower, Class::Upper) => true,
                (Class::Upper, Class::Upper) => next_cls == Some(Class::Lower),
                (Class::Digit, Class::Upper | Class::Lower) => true,
                (Class::Upper | Class::Lower, Class::Digit) => true,
                _ => false,
            };
            if boundary && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words.join("-")
}

/// lodash `deburr` for the Latin letters blog tags actually use.
fn deburr(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => 'O',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
        'ý' | 'ÿ' => 'y',
        'Ý' => 'Y',
        'ñ' => 'n',
        'Ñ' => 'N',
        'ç' => 'c',
        'Ç' => 'C',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_case_matches_lodash() {
        let cases = [
            ("ipv6", "ipv-6"),
            ("api-design", "api-design"),
            ("developer.overheid.nl", "developer-overheid-nl"),
            ("node_modules", "node-modules"),
            ("OAuth", "o-auth"),
            ("fooBar", "foo-bar"),
            ("XMLHttpRequest", "xml-http-request"),
            // lodash really splits "APIs" as "AP" + "Is".
            ("Kennisplatform API's", "kennisplatform-ap-is"),
            ("publiccode.yml", "publiccode-yml"),
            ("Café Über", "cafe-uber"),
            ("  spaced  out ", "spaced-out"),
            ("3d", "3-d"),
        ];
        for (input, want) in cases {
            assert_eq!(kebab_case(input), want, "{input}");
        }
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
