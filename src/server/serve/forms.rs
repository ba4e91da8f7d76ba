//! Reading what the pages' forms send: urlencoded bodies with repeated
//! fields (`tags`, `authors`), checked against what the blog offers, so a
//! tampered form is refused with the field it got wrong; and the RFC 8058
//! one-click body that mail providers POST to the unsubscribe link.

use std::collections::BTreeMap;

use serde::Serialize;

use super::view::Pages;
use crate::config::subscribers::Language;
use crate::state::subscriptions::Choices;

/// RFC 5321 §4.5.3.1.3: a path is at most 256 octets, the angle brackets
/// included.
pub const MAX_ADDRESS: usize = 254;

/// Longer values are refused outright: nothing the forms offer is longer.
const MAX_VALUE: usize = 1000;

/// A urlencoded body, fields in order.
#[derive(Debug, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> FormData {
        FormData(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A field the reader has to correct; `problem` is a code the templates
/// turn into words, `anchor` the id of the control the error summary links to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: &'static str,
    pub anchor: &'static str,
}

/// Each field's first problem, for the message beside it.
pub fn by_field(errors: &[FieldError]) -> BTreeMap<&'static str, &'static str> {
    let mut map = BTreeMap::new();
    for e in errors {
        map.entry(e.field).or_insert(e.problem);
    }
    map
}

fn error(field: &'static str, problem: &'static str) -> FieldError {
    let anchor = match field {
        "email" => "email",
        "scope" => "scope-all",
        "tags" => "tags-0",
        "authors" => "authors-0",
        _ => "digest-none",
    };
    FieldError {
        field,
        problem,
        anchor,
    }
}

/// What the form showed when it was sent, to show it again with its
/// errors (or, on the manage page, the subscription's current choices).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Filled {
    pub email: String,
    /// `all` or `some`.
    pub scope: String,
    pub tags: Vec<String>,
    pub authors: Vec<String>,
    pub digest: String,
}

impl Filled {
    pub fn from_form(form: &FormData) -> Filled {
        let cut = |s: &str| s.chars().take(MAX_ADDRESS + 1).collect::<String>();
        Filled {
            email: cut(form.get("email").unwrap_or_default().trim()),
            scope: cut(form.get("scope").unwrap_or_default()),
            tags: form.all("tags").into_iter().map(cut).collect(),
            authors: form.all("authors").into_iter().map(cut).collect(),
            digest: cut(form.get("digest").unwrap_or("none")),
        }
    }

    pub fn from_choices(choices: &Choices) -> Filled {
        Filled {
            email: String::new(),
            scope: if choices.tags.is_empty() && choices.authors.is_empty() {
                "all".into()
            } else {
                "some".into()
            },
            tags: choices.tags.clone(),
            authors: choices.authors.clone(),
            digest: choices.digest.clone(),
        }
    }

    /// A new form: every post, at once.
    pub fn blank() -> Filled {
        Filled {
            scope: "all".into(),
            digest: "none".into(),
            ..Filled::default()
        }
    }
}

/// The address of a sign-up form, as typed (trimmed).
pub fn address(form: &FormData) -> Result<String, FieldError> {
    let email = form.get("email").unwrap_or_default().trim();
    if email.is_empty() {
        return Err(error("email", "email_missing"));
    }
    if email.len() > MAX_ADDRESS {
        return Err(error("email", "email_too_long"));
    }
    match email.parse::<lettre::Address>() {
        Ok(_) => Ok(email.to_string()),
        Err(_) => Err(error("email", "email_invalid")),
    }
}

/// The choices of a sign-up or manage form, each checked against what
/// `pages` offers. `scope=all` (or no scope and nothing ticked) is every
/// post; `scope=some` needs at least one tag or author.
pub fn choices(
    form: &FormData,
    pages: &Pages,
    language: Language,
) -> Result<Choices, Vec<FieldError>> {
    let mut errors = Vec::new();
    let long = |v: &&str| v.len() > MAX_VALUE;
    let tags = form.all("tags");
    let authors = form.all("authors");
    if tags.iter().any(long) || authors.iter().any(long) {
        errors.push(error(
            if tags.iter().any(long) {
                "tags"
            } else {
                "authors"
            },
            "too_long",
        ));
        return Err(errors);
    }
    let mut tags: Vec<String> = tags.into_iter().map(str::to_string).collect();
    let mut authors: Vec<String> = authors.into_iter().map(str::to_string).collect();
    tags.sort();
    tags.dedup();
    authors.sort();
    authors.dedup();
    if tags
        .iter()
        .any(|t| !pages.tags.iter().any(|offered| &offered.key == t))
    {
        errors.push(error("tags", "tag_unknown"));
    }
    if authors
        .iter()
        .any(|a| !pages.authors.iter().any(|offered| &offered.key == a))
    {
        errors.push(error("authors", "author_unknown"));
    }
    let every = match form.get("scope") {
        Some("all") => true,
        Some("some") => false,
        None => tags.is_empty() && authors.is_empty(),
        Some(_) => {
            errors.push(error("scope", "scope_invalid"));
            false
        }
    };
    if !every && tags.is_empty() && authors.is_empty() && errors.is_empty() {
        errors.push(error("scope", "scope_empty"));
    }
    let digest = form.get("digest").unwrap_or("none");
    if !matches!(digest, "none" | "daily" | "weekly") {
        errors.push(error("digest", "digest_invalid"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if every {
        tags.clear();
        authors.clear();
    }
    Ok(Choices {
        tags,
        authors,
        digest: digest.to_string(),
        language: language.code().to_string(),
    })
}

/// Whether a POST is RFC 8058's one-click unsubscribe: the body
/// `List-Unsubscribe=One-Click`, urlencoded or as one multipart field
/// (RFC 8058 §3.1 allows both, and providers send both).
pub fn is_one_click(content_type: Option<&str>, body: &[u8]) -> bool {
    let content_type = content_type.unwrap_or_default();
    let (media, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    match media.trim().to_ascii_lowercase().as_str() {
        "application/x-www-form-urlencoded" => {
            let form = FormData::parse(body);
            form.0.len() == 1 && form.get("List-Unsubscribe") == Some("One-Click")
        }
        "multipart/form-data" => multipart_one_click(params, body),
        _ => false,
    }
}

/// A multipart body whose only field is `List-Unsubscribe` = `One-Click`.
fn multipart_one_click(params: &str, body: &[u8]) -> bool {
    let Some(boundary) = params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"'))
    }) else {
        return false;
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return false;
    };
    let delimiter = format!("--{boundary}");
    let mut fields = body
        .split(delimiter.as_str())
        .skip(1)
        .filter(|part| !part.starts_with("--"));
    let (Some(part), None) = (fields.next(), fields.next()) else {
        return false;
    };
    let Some((head, value)) = part.split_once("\r\n\r\n") else {
        return false;
    };
    let named = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("content-disposition:")
            && line.contains("form-data")
            && line.contains("name=\"list-unsubscribe\"")
    });
    named && value.trim_end_matches("\r\n") == "One-Click"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_by_lettre_and_by_length() {
        let check = |v: &str| address(&FormData::parse(format!("email={v}").as_bytes()));
        assert_eq!(check("+a%40example.org+").unwrap(), "a@example.org");
        assert_eq!(check("").unwrap_err().problem, "email_missing");
        assert_eq!(check("no-at-sign").unwrap_err().problem, "email_invalid");
        assert_eq!(check("a%40b%40c").unwrap_err().problem, "email_invalid");
        let long = format!("{}%40example.org", "a".repeat(250));
        assert_eq!(check(&long).unwrap_err().problem, "email_too_long");
    }

    #[test]
    fn one_click_bodies_in_both_encodings_are_recognised_and_nothing_else() {
        let form = Some("application/x-www-form-urlencoded");
        assert!(is_one_click(form, b"List-Unsubscribe=One-Click"));
        assert!(!is_one_click(form, b"List-Unsubscribe=One-Click&csrf=x"));
        assert!(!is_one_click(form, b"List-Unsubscribe=Yes"));
        assert!(!is_one_click(
            Some("text/plain"),
            b"List-Unsubscribe=One-Click"
        ));
        assert!(!is_one_click(None, b"List-Unsubscribe=One-Click"));
        let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
        let ct = Some("multipart/form-data; boundary=XyZ");
        assert!(is_one_click(ct, multipart.as_bytes()));
        assert!(is_one_click(
            Some("multipart/form-data; boundary=\"XyZ\""),
            multipart.as_bytes()
        ));
        assert!(!is_one_click(
            ct,
            multipart.replace("One-Click", "Other").as_bytes()
        ));
        assert!(!is_one_click(
            Some("multipart/form-data; boundary=Other"),
            multipart.as_bytes()
        ));
    }
}
