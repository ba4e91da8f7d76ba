//! The body of `POST /{blog}/api/v1/subscriptions`, checked field by field
//! so that every refusal names the field and the reason (`invalidParams`),
//! and so that the API accepts exactly what `openapi.json` describes: the
//! patterns here are the document's (a test holds the two together), and
//! the tag and author keys are the blog's (`tags.yml`, `authors.yml`),
//! read when asked, since they change with the blog.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::problem::InvalidParam;
use crate::config::BlogConfig;
use crate::config::subscribers::{Digest, Language, WebhookFormat, is_loopback, signing_key};
use crate::posts::authors::AuthorsFile;
use crate::posts::tags::TagsFile;
use crate::state::subscriptions::{Choices, WebhookTarget};

/// https with a DNS name (its last label starts with a letter, so the URL
/// parser never reads it as a number), or plain http to a loopback host;
/// an optional port, path and query; no user name, no fragment. Narrower
/// than a URL in general on purpose: whatever matches it is a URL the
/// sender can reach, so a client that follows the document is never
/// refused for the URL's form.
pub const URL_PATTERN: &str = concat!(
    r"^(https://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"|http://(localhost|\[::1\]|127(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}))",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$",
);

/// A Standard Webhooks secret: `whsec_` (optional) and canonical padded
/// base64, which is what `config::subscribers::signing_key` decodes.
pub const SECRET_PATTERN: &str = concat!(
    r"^(whsec_)?(([A-Za-z0-9+/]{4})+",
    r"|([A-Za-z0-9+/]{4})*([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=))$",
);

/// No control characters: a label is shown in lists and terminals.
pub const LABEL_PATTERN: &str = r"^[^\u0000-\u001F\u007F]+$";

pub const MAX_URL_LEN: usize = 2000;
pub const MAX_SECRET_LEN: usize = 200;
pub const MAX_LABEL_LEN: usize = 100;

const FIELDS: [&str; 8] = [
    "url", "format", "secret", "label", "tags", "authors", "digest", "language",
];

fn regex(pattern: &'static str) -> Regex {
    Regex::new(pattern).expect("the API's patterns are valid")
}

static URL_RE: LazyLock<Regex> = LazyLock::new(|| regex(URL_PATTERN));
static SECRET_RE: LazyLock<Regex> = LazyLock::new(|| regex(SECRET_PATTERN));
static LABEL_RE: LazyLock<Regex> = LazyLock::new(|| regex(LABEL_PATTERN));

/// What a subscriber of the blog may choose from.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Tag keys of `tags.yml`, sorted (none without one).
    pub tags: Vec<String>,
    /// Author keys of `authors.yml`, sorted.
    pub authors: Vec<String>,
    /// The blog's language: the default of `language`.
    pub language: Option<Language>,
}

impl Known {
    /// Reads the blog's `tags.yml` and `authors.yml` through the same loader
    /// as a build (through `posts::confined`); a file that cannot be read
    /// offers nothing to choose (its problems are the build's to report).
    pub fn load(config: &BlogConfig) -> Known {
        let mut ignored = Vec::new();
        let tags = config
            .tags_file
            .as_deref()
            .and_then(|p| TagsFile::load(p, &mut ignored))
            .map(|t| t.keys())
            .unwrap_or_default();
        let authors = config
            .authors_file
            .as_deref()
            .and_then(|p| AuthorsFile::load(p, &mut ignored))
            .map(|a| a.keys())
            .unwrap_or_default();
        let language = config
            .language
            .as_deref()
            .map(|l| Language::of_blog(Some(l)));
        Known {
            tags,
            authors,
            language,
        }
    }
}

/// A webhook subscription to add, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWebhook {
    /// The URL as the parser writes it (`HTTPS://Host` is `https://host/`),
    /// so one receiver is one subscription however it was spelled.
    pub url: String,
    pub target: WebhookTarget,
    pub choices: Choices,
}

/// Checks a request body; every field at fault is named.
pub fn check(body: &Value, known: &Known) -> Result<NewWebhook, Vec<InvalidParam>> {
    let Some(fields) = body.as_object() else {
        return Err(vec![InvalidParam::new("body", "must be a JSON object")]);
    };
    let mut bad = Vec::new();
    for name in fields.keys() {
        if !FIELDS.contains(&name.as_str()) {
            bad.push(InvalidParam::new(
                name.as_str(),
                "is not a field of a subscription",
            ));
        }
    }
    let url = match string(fields, "url", &mut bad) {
        Some(url) => check_url(url).map_err(|why| bad.push(InvalidParam::new("url", why))),
        None => {
            if !fields.contains_key("url") {
                bad.push(InvalidParam::new("url", "is required"));
            }
            Err(())
        }
    };
    let format = choice(
        fields,
        "format",
        &WebhookFormat::ALL.map(WebhookFormat::name),
        &mut bad,
    )
    .unwrap_or(WebhookFormat::Json.name());
    let secret = string(fields, "secret", &mut bad).filter(|s| {
        let ok = s.len() <= MAX_SECRET_LEN && SECRET_RE.is_match(s) && signing_key(s).is_ok();
        if !ok {
            bad.push(InvalidParam::new(
                "secret",
                "must be a Standard Webhooks secret: \"whsec_\" and base64 (e.g. whsec_ and the \
                 output of `openssl rand -base64 32`)",
            ));
        }
        ok
    });
    let label = string(fields, "label", &mut bad).filter(|l| {
        let ok = l.chars().count() <= MAX_LABEL_LEN && LABEL_RE.is_match(l);
        if !ok {
            bad.push(InvalidParam::new(
                "label",
                format!("must be 1 to {MAX_LABEL_LEN} characters without control characters"),
            ));
        }
        ok
    });
    let tags = keys(fields, "tags", &known.tags, "tags.yml", &mut bad);
    let authors = keys(fields, "authors", &known.authors, "authors.yml", &mut bad);
    let digest = choice(fields, "digest", &Digest::ALL.map(Digest::name), &mut bad)
        .unwrap_or(Digest::None.name());
    let language = choice(
        fields,
        "language",
        &Language::ALL.map(Language::code),
        &mut bad,
    )
    .or(known.language.map(Language::code))
    .unwrap_or(Language::Nl.code());
    match url {
        Ok(url) if bad.is_empty() => Ok(NewWebhook {
            target: WebhookTarget {
                url: url.clone(),
                format: format.to_string(),
                // Only `json` messages are signed: a secret given with a chat
                // format would sign nothing, so it is not kept.
                secret: secret.filter(|_| format == "json").map(str::to_string),
                label: label.map(str::to_string),
            },
            url,
            choices: Choices {
                tags,
                authors,
                digest: digest.to_string(),
                language: language.to_string(),
            },
        }),
        _ => Err(bad),
    }
}

/// The URL as stored, or why it is refused. The reason never repeats the
/// URL: chat webhook URLs are secrets, and problems end up in logs.
fn check_url(text: &str) -> Result<String, String> {
    if text.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let parsed = url::Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback(&parsed) => {}
        "http" => return Err("must use https (plain http only to localhost)".into()),
        other => return Err(format!("must use https (not {other}:)")),
    }
    if !URL_RE.is_match(text) {
        return Err(
            "must be an https URL with a DNS name, without user name or fragment \
                    (see the pattern in openapi.json)"
                .into(),
        );
    }
    Ok(parsed.to_string())
}

/// A string field, `None` when absent or (with a problem) not a string.
fn string<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    bad: &mut Vec<InvalidParam>,
) -> Option<&'a str> {
    match fields.get(name)? {
        Value::String(s) => Some(s),
        _ => {
            bad.push(InvalidParam::new(name, "must be a string"));
            None
        }
    }
}

/// One of `names`, or `None` when absent or refused.
fn choice(
    fields: &Map<String, Value>,
    name: &str,
    names: &[&'static str],
    bad: &mut Vec<InvalidParam>,
) -> Option<&'static str> {
    let given = string(fields, name, bad)?;
    let found = names.iter().copied().find(|n| *n == given);
    if found.is_none() {
        bad.push(InvalidParam::new(
            name,
            format!("must be one of {}", names.join(", ")),
        ));
    }
    found
}

/// A list of distinct keys from `known` (empty when absent).
fn keys(
    fields: &Map<String, Value>,
    name: &str,
    known: &[String],
    file: &str,
    bad: &mut Vec<InvalidParam>,
) -> Vec<String> {
    let Some(value) = fields.get(name) else {
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        bad.push(InvalidParam::new(name, "must be an array of strings"));
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{name}[{i}]");
        match item.as_str() {
            None => bad.push(InvalidParam::new(at, "must be a string")),
            Some(key) if !known.iter().any(|k| k == key) => bad.push(InvalidParam::new(
                at,
                format!("is not a key of the blog's {file}"),
            )),
            Some(key) if !seen.insert(key) => {
                bad.push(InvalidParam::new(at, "is in the list twice"))
            }
            Some(key) => out.push(key.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use serde_json::json;

    use super::*;

    fn known() -> Known {
        Known {
            tags: vec!["api".into(), "nds".into()],
            authors: vec!["ann".into()],
            language: Some(Language::En),
        }
    }

    fn refused(body: Value) -> Vec<String> {
        match check(&body, &known()) {
            Ok(new) => panic!("accepted {body}: {new:?}"),
            Err(bad) => bad.into_iter().map(|p| p.name).collect(),
        }
    }

    #[test]
    fn urls_are_https_with_a_dns_name_or_plain_http_to_loopback_and_kept_normalised() {
        for (given, stored) in [
            (
                "https://Hooks.Slack.com/services/T0/B0/x",
                "https://hooks.slack.com/services/T0/B0/x",
            ),
            ("https://example.org", "https://example.org/"),
            (
                "https://a-b.example.org:8443/p?q=1&r=%20",
                "https://a-b.example.org:8443/p?q=1&r=%20",
            ),
            ("http://localhost:8080/hook", "http://localhost:8080/hook"),
            ("http://127.0.0.5/hook", "http://127.0.0.5/hook"),
            ("http://[::1]:9/hook", "http://[::1]:9/hook"),
        ] {
            let new = check(&json!({ "url": given }), &known())
                .unwrap_or_else(|e| panic!("{given}: {e:?}"));
            assert_eq!(new.url, stored);
            assert_eq!(new.target.url, stored);
        }
        let long = format!("https://example.org/{}", "a".repeat(MAX_URL_LEN));
        for url in [
            "http://example.org/hook",
            "ftp://example.org/hook",
            "not a url",
            "",
            "https://user:pw@example.org/",
            "https://example.org/#part",
            "https://example.org/a b",
            "https://192.168.1.10/hook",
            "https://example.org:70000/",
            "http://127.0.0.1.example.org/",
            long.as_str(),
        ] {
            assert_eq!(refused(json!({ "url": url })), ["url"], "{url}");
        }
    }

    #[test]
    fn what_is_left_out_takes_the_defaults_and_the_blogs_language() {
        let new = check(&json!({"url": "https://example.org/h"}), &known()).unwrap();
        assert_eq!(new.target.format, "json");
        assert_eq!(new.target.secret, None);
        assert_eq!(new.target.label, None);
        assert_eq!(
            new.choices,
            Choices {
                tags: vec![],
                authors: vec![],
                digest: "none".into(),
                language: "en".into(),
            }
        );
        let dutch = Known {
            language: None,
            ..known()
        };
        let new = check(&json!({"url": "https://example.org/h"}), &dutch).unwrap();
        assert_eq!(new.choices.language, "nl");
    }

    #[test]
    fn a_secret_is_standard_webhooks_base64_and_kept_only_for_json() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        for format in ["json", "slack"] {
            let body = json!({"url": "https://example.org/h", "secret": secret, "format": format});
            let new = check(&body, &known()).unwrap();
            assert_eq!(new.target.secret.is_some(), format == "json", "{format}");
        }
        for ok in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_AA==",
            "whsec_AAA=",
        ] {
            let body = json!({"url": "https://example.org/h", "secret": ok});
            assert!(check(&body, &known()).is_ok(), "{ok}");
        }
        let long = format!("whsec_{}", "A".repeat(MAX_SECRET_LEN));
        for bad in [
            "",
            "whsec_",
            "not base64!",
            "whsec_AB==",
            "whsec_AAAAA",
            long.as_str(),
        ] {
            let body = json!({"url": "https://example.org/h", "secret": bad});
            assert_eq!(refused(body), ["secret"], "{bad:?}");
        }
    }

    #[test]
    fn the_secret_pattern_admits_every_base64_key() {
        // The document's pattern must not refuse a secret a tool made:
        // every length of key, encoded as `openssl rand -base64` does.
        let re = Regex::new(SECRET_PATTERN).unwrap();
        for len in 1..=64 {
            let key: Vec<u8> = (0..len).map(|_| fastrand::u8(..)).collect();
            let encoded = base64::engine::general_purpose::STANDARD.encode(&key);
            assert!(re.is_match(&encoded), "{encoded}");
            assert!(re.is_match(&format!("whsec_{encoded}")), "{encoded}");
            assert_eq!(signing_key(&encoded).unwrap(), key);
        }
    }

    #[test]
    fn labels_tags_and_authors_are_checked_and_every_bad_field_is_named() {
        let body = json!({"url": "https://example.org/h", "label": "é".repeat(MAX_LABEL_LEN)});
        assert!(check(&body, &known()).is_ok(), "100 characters, not bytes");
        for label in [
            json!(""),
            json!("a\u{7}b"),
            json!("x".repeat(101)),
            json!(5),
        ] {
            let body = json!({"url": "https://example.org/h", "label": label});
            assert_eq!(refused(body), ["label"], "{label}");
        }
        let names = refused(json!({
            "url": 7,
            "tags": ["api", "nope", "api", 3],
            "authors": "ann",
            "digest": "hourly",
            "language": "de",
            "format": null,
            "extra": true,
        }));
        let mut names = names;
        names.sort();
        assert_eq!(
            names,
            [
                "authors", "digest", "extra", "format", "language", "tags[1]", "tags[2]",
                "tags[3]", "url"
            ]
        );
        assert_eq!(refused(json!({})), ["url"]);
        assert_eq!(refused(json!("https://example.org/h")), ["body"]);
        let new = check(
            &json!({"url": "https://example.org/h", "tags": ["nds"], "authors": ["ann"], "digest": "weekly"}),
            &known(),
        )
        .unwrap();
        assert_eq!(new.choices.tags, ["nds"]);
        assert_eq!(new.choices.authors, ["ann"]);
        assert_eq!(new.choices.digest, "weekly");
    }
}
