//! Splitting a post into YAML front matter and body, the typed front matter
//! fields Docusaurus's blog plugin reads, and the `# Title` fallback.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::authors::AuthorFields;

/// The front matter fields postbode reads. Other keys (`keywords`,
/// `hide_table_of_contents`, ...) are Docusaurus's business and are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct FrontMatter {
    pub title: Option<Spanned<String>>,
    pub description: Option<String>,
    pub slug: Option<Spanned<String>>,
    pub date: Option<Spanned<String>>,
    pub draft: Option<bool>,
    pub unlisted: Option<bool>,
    pub image: Option<Spanned<String>>,
    pub tags: Option<Spanned<Vec<Option<TagEntry>>>>,
    pub authors: Option<Spanned<OneOrMany<AuthorEntry>>>,
    pub author: Option<String>,
    #[serde(alias = "authorURL")]
    pub author_url: Option<String>,
    #[serde(alias = "authorTitle")]
    pub author_title: Option<String>,
    #[serde(alias = "authorImageURL")]
    pub author_image_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TagEntry {
    Key(String),
    Inline { label: String, permalink: String },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum AuthorEntry {
    Key(String),
    Inline(Box<AuthorFields>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::Many(v) => v,
            OneOrMany::One(t) => std::slice::from_ref(t),
        }
    }
}

/// A file cut in two: the YAML between the `---` fences and the rest.
pub struct Split<'a> {
    pub yaml: Option<&'a str>,
    /// 1-based line of the first YAML line.
    pub yaml_line: usize,
    pub body: &'a str,
    /// 1-based line where `body` starts.
    pub body_line: usize,
}

/// gray-matter's rule: front matter only when the file starts with a `---`
/// line, up to the next line that is exactly `---`.
pub fn split(text: &str) -> Result<Split<'_>, usize> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_end = text.find('\n').unwrap_or(text.len());
    if text[..first_end].trim_end() != "---" {
        return Ok(Split {
            yaml: None,
            yaml_line: 1,
            body: text,
            body_line: 1,
        });
    }
    let yaml_start = (first_end + 1).min(text.len());
    let mut pos = yaml_start;
    let mut line = 2;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        if text[pos..end].trim_end() == "---" {
            let body_start = (end + 1).min(text.len());
            return Ok(Split {
                yaml: Some(&text[yaml_start..pos]),
                yaml_line: 2,
                body: &text[body_start..],
                body_line: line + 1,
            });
        }
        pos = end + 1;
        line += 1;
    }
    // An opening fence that never closes: report it at line 1.
    Err(1)
}

static LEADING_IMPORTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:import\s(?:.|\r?\n(?:[^\r\n]))*(?:\r?\n){2,})*").expect("valid regex")
});
static ATX_TITLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^#[ \t]+(?<title>[^ \t].*)(?:\r?\n|$)").expect("valid regex"));
static SETEXT_TITLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?<title>.*)\r?\n=+[ \t]*(?:\r?\n|$)").expect("valid regex"));
static HEADING_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*\{#[^}]*\}\s*$").expect("valid regex"));
static MD_LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"!?\[([^\]]*)\]\([^)]*\)").expect("valid regex"));

/// Docusaurus `parseMarkdownContentTitle` with `removeContentTitle`: a `# H1`
/// (or setext `===` heading) at the very top of the body, after any imports,
/// is the content title and is taken out of the body. The removed text is
/// replaced by blank lines so line numbers in the body stay true.
pub fn take_content_title(body: &str) -> (Option<String>, String) {
    let Some((range, title)) = find_content_title(body) else {
        return (None, body.to_string());
    };
    let newlines = body[range.clone()].matches('\n').count();
    let mut out = String::with_capacity(body.len());
    out.push_str(&body[..range.start]);
    out.extend(std::iter::repeat_n('\n', newlines));
    out.push_str(&body[range.end..]);
    (Some(title), out)
}

/// The content title alone, for the loader, which keeps no body.
pub fn content_title(body: &str) -> Option<String> {
    find_content_title(body).map(|(_, title)| title)
}

/// Where the content title is in `body`, and its text.
fn find_content_title(body: &str) -> Option<(std::ops::Range<usize>, String)> {
    let lead = body.len() - body.trim_start().len();
    let trimmed = &body[lead..];
    let imports = LEADING_IMPORTS.find(trimmed).map_or(0, |m| m.end());
    let rest = &trimmed[imports..];
    let rest_lead = rest.len() - rest.trim_start().len();
    let rest = &rest[rest_lead..];
    let caps = ATX_TITLE
        .captures(rest)
        .or_else(|| SETEXT_TITLE.captures(rest))?;
    let whole = caps.get(0).map_or(0..0, |m| m.range());
    let offset = lead + imports + rest_lead;
    let title = to_text_title(caps["title"].trim());
    Some((offset + whole.start..offset + whole.end, title))
}

/// The heading's text without Markdown decoration, as a reader sees it.
fn to_text_title(title: &str) -> String {
    let title = HEADING_ID.replace(title, "");
    let title = MD_LINK.replace_all(&title, "$1");
    title
        .replace("**", "")
        .replace("__", "")
        .replace('`', "")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_is_split_with_line_numbers() {
        let s = split("---\ntitle: A\ntags: [x]\n---\n\n# Body\n").unwrap();
        assert_eq!(s.yaml, Some("title: A\ntags: [x]\n"));
        assert_eq!(s.yaml_line, 2);
        assert_eq!(s.body, "\n# Body\n");
        assert_eq!(s.body_line, 5);
    }

    #[test]
    fn a_file_without_front_matter_is_all_body() {
        let s = split("# Only body\n---\n").unwrap();
        assert!(s.yaml.is_none());
        assert_eq!(s.body_line, 1);
    }

    #[test]
    fn an_unclosed_front_matter_fence_is_an_error() {
        assert_eq!(split("---\ntitle: x\n\nbody").err(), Some(1));
    }

    #[test]
    fn the_first_h1_becomes_the_title_and_leaves_the_body() {
        let (title, body) = take_content_title("\n# Hello **world**\n\nText\n");
        assert_eq!(title.as_deref(), Some("Hello world"));
        assert_eq!(body, "\n\n\nText\n");
    }

    #[test]
    fn imports_before_the_h1_do_not_hide_it() {
        let (title, body) =
            take_content_title("import X from 'y';\nimport Z from 'w';\n\n# Title\nText");
        assert_eq!(title.as_deref(), Some("Title"));
        assert!(body.starts_with("import X"));
        assert!(!body.contains("# Title"));
    }

    #[test]
    fn a_heading_after_text_is_not_a_title() {
        let (title, _) = take_content_title("Intro\n\n# Later\n");
        assert_eq!(title, None);
        let (title, _) = take_content_title("## Second level\n");
        assert_eq!(title, None);
    }
}
