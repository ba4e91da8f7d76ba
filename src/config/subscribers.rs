//! Who gets told about new posts, and how: the `[[subscribers]]` of a feed
//! definition, written inline or in a separate file so personal addresses
//! stay out of a public repository. They are kept as written, with their
//! spans, when the definition is read; `resolve` then checks each one and
//! reads the secrets it names from the environment, reporting problems per
//! subscriber at the line and column of the value at fault, in the file it
//! was written in, so one bad entry does not silence the others.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

use super::error::{locate, one_of};
use crate::diag::Diagnostic;
use crate::paths::normalize_path;
use crate::text::line_col;

// Old paths of what moved to `config::email` and `config::delivery`, kept so
// callers can move at their own pace.
pub use super::delivery::DeliverySettings;
pub use super::email::{EmailConfig, EmailTransport, RawEmail};

/// A subscriber as written in TOML, each value with its span so `resolve`
/// can point at it. Kinds, formats and URLs are checked by `resolve`, not
/// while reading, because one bad subscriber must not stop a build.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [[subscribers]] table (id = \"…\" and email, webhook or webhook_env)"
)]
pub(crate) struct RawSubscriber {
    id: Option<Spanned<String>>,
    email: Option<Spanned<String>>,
    webhook: Option<Spanned<String>>,
    webhook_env: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    secret_env: Option<Spanned<String>>,
    /// Any of these (tag keys or labels, case-insensitive); absent = all posts.
    tags: Option<Vec<String>>,
    #[serde(default)]
    all_tags: Vec<String>,
    #[serde(default)]
    exclude_tags: Vec<String>,
    #[serde(default)]
    authors: Vec<String>,
    digest: Option<Spanned<String>>,
    language: Option<Spanned<String>>,
    /// Allow a plain-http webhook URL that is not on loopback.
    #[serde(default)]
    allow_http: bool,
}

/// `subscribers` as the TOML deserialiser sees it, before the text it came
/// from is attached.
#[derive(Debug)]
pub(crate) enum RawSubscribers {
    File(PathBuf),
    Inline(Vec<Spanned<RawSubscriber>>),
}

// By hand rather than `#[serde(untagged)]`: untagged says only "data did not
// match any variant", and buffering the value loses every span inside it.
impl<'de> Deserialize<'de> for RawSubscribers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = RawSubscribers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file name (\"subscribers.toml\") or [[subscribers]] tables")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSubscribers, E> {
                Ok(RawSubscribers::File(PathBuf::from(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawSubscribers, A::Error> {
                let mut list = Vec::new();
                while let Some(sub) = seq.next_element()? {
                    list.push(sub);
                }
                Ok(RawSubscribers::Inline(list))
            }
        }
        d.deserialize_any(FieldVisitor)
    }
}

impl RawSubscribers {
    /// Keeps the text the spans point into.
    pub(crate) fn with_text(self, text: Arc<str>) -> SubscribersField {
        match self {
            RawSubscribers::File(p) => SubscribersField::File(p),
            RawSubscribers::Inline(entries) => {
                SubscribersField::Inline(SubscriberList { text, entries })
            }
        }
    }
}

/// `subscribers = "subscribers.toml"` or inline `[[subscribers]]`.
#[derive(Debug, Clone)]
pub enum SubscribersField {
    /// Read by `resolve`, relative to the feed definition's folder.
    File(PathBuf),
    Inline(SubscriberList),
}

/// Subscribers as written, with the text their spans point into.
#[derive(Clone)]
pub struct SubscriberList {
    text: Arc<str>,
    entries: Vec<Spanned<RawSubscriber>>,
}

impl fmt::Debug for SubscriberList {
    // Not the text: it is the whole feed definition.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberList")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl SubscriberList {
    /// Reads `[[subscribers]]` tables (and nothing else) from a TOML text;
    /// errors are placed in that text.
    fn parse(text: &str, path: &Path) -> Result<SubscriberList, Diagnostic> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct SubscribersFile {
            #[serde(default)]
            subscribers: Vec<Spanned<RawSubscriber>>,
        }
        match toml::from_str::<SubscribersFile>(text) {
            Ok(file) => Ok(SubscriberList {
                text: Arc::from(text),
                entries: file.subscribers,
            }),
            Err(e) => {
                let at = locate(text, &e);
                Err(Diagnostic::error(path, at.message).at(at.line, at.column))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    Json,
    Slack,
    Teams,
    Mattermost,
    Discord,
}

impl WebhookFormat {
    pub const ALL: [WebhookFormat; 5] = [
        WebhookFormat::Json,
        WebhookFormat::Slack,
        WebhookFormat::Teams,
        WebhookFormat::Mattermost,
        WebhookFormat::Discord,
    ];

    pub fn from_name(name: &str) -> Option<WebhookFormat> {
        WebhookFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Teams => "teams",
            WebhookFormat::Mattermost => "mattermost",
            WebhookFormat::Discord => "discord",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Digest {
    None,
    Daily,
    Weekly,
}

impl Digest {
    pub const ALL: [Digest; 3] = [Digest::None, Digest::Daily, Digest::Weekly];

    pub fn from_name(name: &str) -> Option<Digest> {
        Digest::ALL.into_iter().find(|d| d.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Digest::None => "none",
            Digest::Daily => "daily",
            Digest::Weekly => "weekly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Nl,
    En,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Nl, Language::En];

    /// A blog's language as its `language` setting says (`en…` is English;
    /// anything else, or none, Dutch): the default of its subscribers and
    /// of its pages.
    pub fn of_blog(language: Option<&str>) -> Language {
        match language {
            Some(l) if l.to_ascii_lowercase().starts_with("en") => Language::En,
            _ => Language::Nl,
        }
    }

    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::Nl => "nl",
            Language::En => "en",
        }
    }
}

/// Where a subscriber's messages go.
#[derive(Debug, Clone)]
pub enum Target {
    Email {
        address: String,
    },
    Webhook {
        /// May be a secret itself (Slack and Teams URLs are): never logged.
        url: SecretString,
        format: WebhookFormat,
        /// Standard Webhooks signing secret (`json` format).
        secret: Option<SecretString>,
        allow_http: bool,
    },
}

impl Target {
    /// `email` or `webhook`: the delivery channel, part of a delivery's key.
    pub fn channel(&self) -> &'static str {
        match self {
            Target::Email { .. } => "email",
            Target::Webhook { .. } => "webhook",
        }
    }
}

/// Which posts a subscriber wants. Tag names match tag keys or labels,
/// case-insensitively; author names match author keys.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `None`: every post.
    pub any_tags: Option<Vec<String>>,
    pub all_tags: Vec<String>,
    pub exclude_tags: Vec<String>,
    pub authors: Vec<String>,
    /// A post matches with one of `any_tags` *or* by one of `authors`
    /// (the subscribe page's "these tags and these authors"); otherwise
    /// it needs both, as a feed definition says.
    pub tags_or_authors: bool,
}

/// A checked subscriber, ready to plan and send for.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub id: String,
    pub target: Target,
    pub filter: Filter,
    pub digest: Digest,
    pub language: Language,
    pub origin: Origin,
}

/// Where a subscriber was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// In the feed definition (or its subscribers file).
    #[default]
    Definition,
    /// Signed up through `postbode serve` (its id is `serve:<n>`);
    /// `manage_key` goes into its manage and unsubscribe links.
    Serve { manage_key: u64 },
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Definition => "definition",
            Origin::Serve { .. } => "serve",
        }
    }
}

/// Ids that start with this belong to subscribers kept in the state.
pub const RESERVED_ID_PREFIX: &str = "serve:";

/// Checks every subscriber of a blog. `config_file` is the feed definition
/// (where inline subscribers were written; a subscribers file is relative to
/// `base`); `default_language` is the blog's. Environment variables are read
/// here, once.
pub fn resolve(
    field: Option<&SubscribersField>,
    base: &Path,
    config_file: &Path,
    default_language: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Subscriber>, Vec<Diagnostic>) {
    let (file, list) = match field {
        None => return (Vec::new(), Vec::new()),
        Some(SubscribersField::Inline(list)) => (config_file.to_path_buf(), Cow::Borrowed(list)),
        Some(SubscribersField::File(p)) => {
            let path = normalize_path(&base.join(p));
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| Diagnostic::error(&path, format!("cannot read subscribers: {e}")))
                .and_then(|text| SubscriberList::parse(&text, &path));
            match parsed {
                Ok(list) => (path, Cow::Owned(list)),
                Err(d) => return (Vec::new(), vec![d]),
            }
        }
    };
    let default_language = Language::of_blog(default_language);
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut ids = HashSet::new();
    for (i, entry) in list.entries.iter().enumerate() {
        let raw = entry.get_ref();
        let checked = check(raw, &mut ids, default_language, env).map_err(|(span, message)| {
            let name = match &raw.id {
                Some(id) if !id.get_ref().trim().is_empty() => id.get_ref().clone(),
                _ => format!("#{}", i + 1),
            };
            let (line, column) = line_col(&list.text, span.unwrap_or(entry.span()).start);
            Diagnostic::error(&file, format!("subscriber {name}: {message}")).at(line, column)
        });
        match checked {
            Ok(sub) => out.push(sub),
            Err(d) => problems.push(d),
        }
    }
    (out, problems)
}

/// What is wrong with a subscriber: the span of the value at fault (`None`:
/// the subscriber as a whole) and a message.
type Problem = (Option<Range<usize>>, String);

fn at(value: &Spanned<String>, message: String) -> Problem {
    (Some(value.span()), message)
}

fn check(
    raw: &RawSubscriber,
    ids: &mut HashSet<String>,
    default_language: Language,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Subscriber, Problem> {
    let Some(id) = raw.id.as_ref().filter(|s| !s.get_ref().trim().is_empty()) else {
        return Err((
            None,
            "has no `id` (a stable, unique id per blog is required)".into(),
        ));
    };
    if id.get_ref().starts_with(RESERVED_ID_PREFIX) {
        return Err(at(
            id,
            format!(
                "ids starting with {RESERVED_ID_PREFIX:?} are reserved for subscribers of postbode serve"
            ),
        ));
    }
    if !ids.insert(id.get_ref().clone()) {
        return Err(at(id, "the id is used twice".into()));
    }
    let target = match (&raw.email, &raw.webhook, &raw.webhook_env) {
        (Some(address), None, None) => {
            let text = address.get_ref();
            if !text.contains('@') || text.parse::<lettre::Address>().is_err() {
                return Err(at(address, format!("{text:?} is not an email address")));
            }
            Target::Email {
                address: text.clone(),
            }
        }
        (None, Some(url), None) => webhook(raw, url, url.get_ref().clone(), env)?,
        (None, None, Some(var)) => match env(var.get_ref()) {
            Some(url) => webhook(raw, var, url, env)?,
            None => {
                let message = format!("webhook_env names {}, which is not set", var.get_ref());
                return Err(at(var, message));
            }
        },
        _ => {
            return Err((
                None,
                "needs exactly one of `email`, `webhook` or `webhook_env`".into(),
            ));
        }
    };
    let digest = pick(raw.digest.as_ref(), "digest", &Digest::ALL, Digest::name)?;
    let language = pick(
        raw.language.as_ref(),
        "language",
        &Language::ALL,
        Language::code,
    )?;
    let lower = |v: &[String]| {
        v.iter()
            .map(|s| s.trim().to_lowercase())
            .collect::<Vec<_>>()
    };
    Ok(Subscriber {
        id: id.get_ref().clone(),
        target,
        filter: Filter {
            any_tags: raw.tags.as_deref().map(lower),
            all_tags: lower(&raw.all_tags),
            exclude_tags: lower(&raw.exclude_tags),
            authors: lower(&raw.authors),
            tags_or_authors: false,
        },
        digest: digest.unwrap_or(Digest::None),
        language: language.unwrap_or(default_language),
        origin: Origin::Definition,
    })
}

/// A webhook target; `written` is where the URL came from (`webhook`, or
/// `webhook_env` naming the variable), which problems point at. The URL is
/// never put in a message: chat webhook URLs are secrets.
fn webhook(
    raw: &RawSubscriber,
    written: &Spanned<String>,
    url: String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, Problem> {
    let parsed = url::Url::parse(&url)
        .map_err(|e| at(written, format!("the webhook URL is not a URL ({e})")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback(&parsed) || raw.allow_http => {}
        other => {
            return Err(at(
                written,
                format!(
                    "the webhook URL must use https (got {other}:); set allow_http = true to allow plain http"
                ),
            ));
        }
    }
    let format = pick(
        raw.format.as_ref(),
        "format",
        &WebhookFormat::ALL,
        WebhookFormat::name,
    )?;
    let secret = match &raw.secret_env {
        Some(var) => match env(var.get_ref()) {
            Some(s) if !s.is_empty() => {
                if let Err(why) = signing_key(&s) {
                    let message = format!("secret_env {}: {why}", var.get_ref());
                    return Err(at(var, message));
                }
                Some(SecretString::from(s))
            }
            _ => {
                let message = format!("secret_env names {}, which is not set", var.get_ref());
                return Err(at(var, message));
            }
        },
        None => None,
    };
    Ok(Target::Webhook {
        url: SecretString::from(url),
        format: format.unwrap_or(WebhookFormat::Json),
        secret,
        allow_http: raw.allow_http,
    })
}

/// Whether the URL's host is this machine (`localhost`, 127.0.0.0/8, ::1):
/// the only place plain http is allowed without saying so, because a test
/// receiver there has no certificate and nothing crosses a network.
pub fn is_loopback(url: &url::Url) -> bool {
    url.host().is_some_and(|h| match h {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    })
}

/// The key a Standard Webhooks signing secret stands for: `whsec_` and
/// base64, or plain base64 (<https://www.standardwebhooks.com/>). Anything
/// else is refused: used as raw bytes, receivers' libraries (which always
/// base64-decode) could never verify the signature. `resolve` and the signer
/// both read secrets here, so what `check` accepts is what is signed with.
pub fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let body = secret.strip_prefix("whsec_").unwrap_or(secret);
    match base64::engine::general_purpose::STANDARD.decode(body) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(
            "the secret is not \"whsec_<base64>\" or base64, so receivers cannot verify \
             the signature; generate one with `openssl rand -base64 32` and prefix it with whsec_"
                .into(),
        ),
    }
}

/// One tag or author a subscriber's filter names, where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFilter {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub subscriber: String,
    /// `tags`, `all_tags`, `exclude_tags` or `authors`.
    pub key: &'static str,
    pub value: String,
}

/// Every tag and author the subscribers' filters name, with their places,
/// for `check` to hold against the blog's tags and authors. Problems reading
/// the subscribers are `resolve`'s to report.
pub fn written_filters(
    field: Option<&SubscribersField>,
    base: &Path,
    config_file: &Path,
) -> Vec<WrittenFilter> {
    let (file, list) = match field {
        None => return Vec::new(),
        Some(SubscribersField::Inline(list)) => (config_file.to_path_buf(), list.clone()),
        Some(SubscribersField::File(p)) => {
            let path = normalize_path(&base.join(p));
            let Ok(text) = std::fs::read_to_string(&path) else {
                return Vec::new();
            };
            match SubscriberList::parse(&text, &path) {
                Ok(list) => (path, list),
                Err(_) => return Vec::new(),
            }
        }
    };
    let mut out = Vec::new();
    for (i, entry) in list.entries.iter().enumerate() {
        let raw = entry.get_ref();
        let subscriber = match &raw.id {
            Some(id) => id.get_ref().clone(),
            None => format!("#{}", i + 1),
        };
        // The entry's span may cover only its `[[subscribers]]` header: its
        // keys run to the next table header.
        let start = entry.span().start;
        let rest = &list.text[start..];
        let end = rest
            .get(1..)
            .and_then(|r| r.find("\n["))
            .map_or(rest.len(), |e| e + 1)
            .max(entry.span().end - start);
        let written = &rest[..end.min(rest.len())];
        let lists: [(&'static str, &[String]); 4] = [
            ("tags", raw.tags.as_deref().unwrap_or_default()),
            ("all_tags", &raw.all_tags),
            ("exclude_tags", &raw.exclude_tags),
            ("authors", &raw.authors),
        ];
        for (key, values) in lists {
            // The value's place: its first quoted occurrence after the key.
            let key_at = find_key(written, key).unwrap_or(0);
            for value in values {
                let offset = written[key_at..]
                    .find(&format!("\"{value}\""))
                    .or_else(|| written[key_at..].find(&format!("'{value}'")))
                    .map(|o| key_at + o)
                    .unwrap_or(key_at);
                let (line, column) = line_col(&list.text, start + offset);
                out.push(WrittenFilter {
                    file: file.clone(),
                    line,
                    column,
                    subscriber: subscriber.clone(),
                    key,
                    value: value.clone(),
                });
            }
        }
    }
    out
}

/// Where `key = ` starts a line in a subscriber's text.
fn find_key(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

/// The value of a named choice (`format`, `digest`, `language`) if written.
fn pick<T: Copy>(
    written: Option<&Spanned<String>>,
    key: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<Option<T>, Problem> {
    let Some(written) = written else {
        return Ok(None);
    };
    match all.iter().copied().find(|v| name(*v) == written.get_ref()) {
        Some(v) => Ok(Some(v)),
        None => {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            let message = format!("unknown {key} {:?} ({})", written.get_ref(), one_of(&names));
            Err(at(written, message))
        }
    }
}

#[cfg(test)]
mod tests;
