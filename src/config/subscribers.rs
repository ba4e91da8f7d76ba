//! Who gets told about new posts, and how: the `[[subscribers]]` and `[email]`
//! parts of a feed definition (subscribers may live in a separate file so
//! personal addresses stay out of a public repository). Parsed with the rest
//! of the definition; `resolve` then checks each subscriber and reads the
//! secrets it names from the environment, reporting problems per subscriber
//! so one bad entry does not silence the others.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::diag::Diagnostic;

/// A subscriber as written in TOML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubscriber {
    pub id: Option<String>,
    pub email: Option<String>,
    pub webhook: Option<String>,
    pub webhook_env: Option<String>,
    pub format: Option<String>,
    pub secret_env: Option<String>,
    /// Any of these (tag keys or labels, case-insensitive); absent = all posts.
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub all_tags: Vec<String>,
    #[serde(default)]
    pub exclude_tags: Vec<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    pub digest: Option<String>,
    pub language: Option<String>,
    /// Allow a plain-http webhook URL that is not on loopback.
    #[serde(default)]
    pub allow_http: bool,
}

/// `subscribers = "subscribers.toml"` or inline `[[subscribers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SubscribersField {
    File(PathBuf),
    Inline(Vec<RawSubscriber>),
}

/// The separate subscribers file: `[[subscribers]]` tables only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribersFile {
    #[serde(default)]
    subscribers: Vec<RawSubscriber>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    Smtp,
    #[default]
    File,
}

/// `[email]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub from: String,
    #[serde(default)]
    pub transport: EmailTransport,
    pub smtp_url: Option<String>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub outbox: Option<PathBuf>,
    pub reply_to: Option<String>,
    pub unsubscribe_url: Option<String>,
}

/// `[delivery]`: how hard to try. All optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// A delivery still failing this many hours after it was planned is dead.
    pub max_age_hours: Option<u32>,
    /// Attempts before a delivery is dead.
    pub max_attempts: Option<u32>,
    /// Webhook requests in flight, overall and per host.
    pub webhook_concurrency: Option<usize>,
    pub per_host_concurrency: Option<usize>,
    pub webhook_timeout_seconds: Option<u64>,
    /// How long a run waits for another run of the same blog to finish.
    pub lock_wait_seconds: Option<u64>,
}

/// Email settings with paths resolved.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub from: String,
    pub transport: EmailTransport,
    pub smtp_url: Option<String>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub outbox: PathBuf,
    pub reply_to: Option<String>,
    /// With `{subscriber}` and `{token}` placeholders.
    pub unsubscribe_url: Option<String>,
}

impl EmailConfig {
    pub fn from_raw(raw: RawEmail, base: &Path) -> EmailConfig {
        let outbox = raw.outbox.unwrap_or_else(|| PathBuf::from("outbox"));
        EmailConfig {
            from: raw.from,
            transport: raw.transport,
            smtp_url: raw.smtp_url,
            username_env: raw.username_env,
            password_env: raw.password_env,
            outbox: if outbox.is_absolute() {
                outbox
            } else {
                base.join(outbox)
            },
            reply_to: raw.reply_to,
            unsubscribe_url: raw.unsubscribe_url,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Nl,
    En,
}

impl Language {
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
}

/// A checked subscriber, ready to plan and send for.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub id: String,
    pub target: Target,
    pub filter: Filter,
    pub digest: Digest,
    pub language: Language,
}

/// Checks every subscriber of a blog. `file` names where they were written
/// (for messages); `default_language` is the blog's. Environment variables
/// are read here, once.
pub fn resolve(
    field: Option<&SubscribersField>,
    base: &Path,
    config_file: &Path,
    default_language: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Subscriber>, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let (file, raws): (PathBuf, Vec<RawSubscriber>) = match field {
        None => return (Vec::new(), problems),
        Some(SubscribersField::Inline(list)) => (config_file.to_path_buf(), list.clone()),
        Some(SubscribersField::File(p)) => {
            let path = if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            };
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| Diagnostic::error(&path, format!("cannot read subscribers: {e}")))
                .and_then(|text| {
                    toml::from_str::<SubscribersFile>(&text).map_err(|e| {
                        let (line, col) = e
                            .span()
                            .map(|s| crate::text::line_col(&text, s.start))
                            .unwrap_or((1, 1));
                        Diagnostic::error(&path, e.message().to_string()).at(line, col)
                    })
                });
            match parsed {
                Ok(f) => (path, f.subscribers),
                Err(d) => {
                    problems.push(d);
                    return (Vec::new(), problems);
                }
            }
        }
    };
    let default_language = match default_language.map(|l| l.to_ascii_lowercase()) {
        Some(l) if l.starts_with("en") => Language::En,
        _ => Language::Nl,
    };
    let mut out: Vec<Subscriber> = Vec::new();
    let mut ids: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (i, raw) in raws.into_iter().enumerate() {
        let name = raw
            .id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| format!("#{}", i + 1));
        let mut fail = |msg: String| {
            problems.push(Diagnostic::error(
                &file,
                format!("subscriber {name}: {msg}"),
            ));
        };
        let Some(id) = raw.id.clone().filter(|s| !s.trim().is_empty()) else {
            fail("has no `id` (a stable, unique id per blog is required)".into());
            continue;
        };
        if !ids.insert(id.clone()) {
            fail("the id is used twice".into());
            continue;
        }
        let target = match (&raw.email, &raw.webhook, &raw.webhook_env) {
            (Some(address), None, None) => {
                if !address.contains('@') || address.parse::<lettre::Address>().is_err() {
                    fail(format!("{address:?} is not an email address"));
                    continue;
                }
                Target::Email {
                    address: address.clone(),
                }
            }
            (None, url, url_env) if url.is_some() != url_env.is_some() => {
                let url = match (url, url_env) {
                    (Some(u), _) => u.clone(),
                    (_, Some(var)) => match env(var) {
                        Some(u) => u,
                        None => {
                            fail(format!("webhook_env names {var}, which is not set"));
                            continue;
                        }
                    },
                    _ => unreachable!("one of the two is set"),
                };
                let Ok(parsed) = url::Url::parse(&url) else {
                    fail("the webhook URL is not a URL".into());
                    continue;
                };
                let loopback = parsed.host().is_some_and(|h| match h {
                    url::Host::Domain(d) => d == "localhost",
                    url::Host::Ipv4(ip) => ip.is_loopback(),
                    url::Host::Ipv6(ip) => ip.is_loopback(),
                });
                match parsed.scheme() {
                    "https" => {}
                    "http" if loopback || raw.allow_http => {}
                    other => {
                        fail(format!(
                            "the webhook URL must use https (got {other}:); set allow_http = true to allow plain http"
                        ));
                        continue;
                    }
                }
                let format = match raw.format.as_deref().unwrap_or("json") {
                    "json" => WebhookFormat::Json,
                    "slack" => WebhookFormat::Slack,
                    "teams" => WebhookFormat::Teams,
                    "mattermost" => WebhookFormat::Mattermost,
                    "discord" => WebhookFormat::Discord,
                    other => {
                        fail(format!(
                            "unknown format {other:?} (json, slack, teams, mattermost or discord)"
                        ));
                        continue;
                    }
                };
                let secret = match &raw.secret_env {
                    Some(var) => match env(var) {
                        Some(s) if !s.is_empty() => Some(SecretString::from(s)),
                        _ => {
                            fail(format!("secret_env names {var}, which is not set"));
                            continue;
                        }
                    },
                    None => None,
                };
                Target::Webhook {
                    url: SecretString::from(url),
                    format,
                    secret,
                    allow_http: raw.allow_http,
                }
            }
            _ => {
                fail("needs exactly one of `email`, `webhook` or `webhook_env`".into());
                continue;
            }
        };
        let digest = match raw.digest.as_deref().unwrap_or("none") {
            "none" => Digest::None,
            "daily" => Digest::Daily,
            "weekly" => Digest::Weekly,
            other => {
                fail(format!("unknown digest {other:?} (none, daily or weekly)"));
                continue;
            }
        };
        let language = match raw.language.as_deref() {
            None => default_language,
            Some("nl") => Language::Nl,
            Some("en") => Language::En,
            Some(other) => {
                fail(format!("unknown language {other:?} (nl or en)"));
                continue;
            }
        };
        let lower = |v: &[String]| {
            v.iter()
                .map(|s| s.trim().to_lowercase())
                .collect::<Vec<_>>()
        };
        out.push(Subscriber {
            id,
            target,
            filter: Filter {
                any_tags: raw.tags.as_deref().map(lower),
                all_tags: lower(&raw.all_tags),
                exclude_tags: lower(&raw.exclude_tags),
                authors: lower(&raw.authors),
            },
            digest,
            language,
        });
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml_text: &str, env: &[(&str, &str)]) -> (Vec<Subscriber>, Vec<String>) {
        #[derive(Deserialize)]
        struct Doc {
            subscribers: Vec<RawSubscriber>,
        }
        let doc: Doc = toml::from_str(toml_text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (subs, problems) = resolve(
            Some(&SubscribersField::Inline(doc.subscribers)),
            Path::new("/feeds"),
            Path::new("/feeds/blog.toml"),
            Some("nl"),
            &lookup,
        );
        (subs, problems.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn every_kind_of_invalid_subscriber_is_named_in_an_error() {
        let (subs, problems) = check(
            r#"
[[subscribers]]
email = "no-id@example.org"
[[subscribers]]
id = "dup"
email = "a@example.org"
[[subscribers]]
id = "dup"
email = "b@example.org"
[[subscribers]]
id = "both"
email = "c@example.org"
webhook = "https://x.example/h"
[[subscribers]]
id = "neither"
[[subscribers]]
id = "bad-format"
webhook = "https://x.example/h"
format = "irc"
[[subscribers]]
id = "unset-env"
webhook_env = "NOT_SET_ANYWHERE"
[[subscribers]]
id = "plain-http"
webhook = "http://chat.example.org/h"
[[subscribers]]
id = "ok"
webhook = "http://127.0.0.1:9/h"
format = "slack"
"#,
            &[],
        );
        let all = problems.join("\n");
        for needle in [
            "subscriber #1: has no `id`",
            "subscriber dup: the id is used twice",
            "subscriber both: needs exactly one of",
            "subscriber neither: needs exactly one of",
            "subscriber bad-format: unknown format \"irc\"",
            "subscriber unset-env: webhook_env names NOT_SET_ANYWHERE",
            "subscriber plain-http: the webhook URL must use https",
        ] {
            assert!(all.contains(needle), "{needle} missing in\n{all}");
        }
        assert!(
            problems
                .iter()
                .all(|p| p.starts_with("/feeds/blog.toml: error:"))
        );
        let ids: Vec<&str> = subs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["dup", "ok"]);
    }

    #[test]
    fn secrets_and_urls_come_from_the_environment() {
        let (subs, problems) = check(
            r#"
[[subscribers]]
id = "team"
webhook_env = "HOOK"
secret_env = "SECRET"
tags = ["API", " Rest "]
"#,
            &[("HOOK", "https://hooks.example/x"), ("SECRET", "whsec_abc")],
        );
        assert!(problems.is_empty(), "{problems:?}");
        let Target::Webhook {
            url,
            secret,
            format,
            ..
        } = &subs[0].target
        else {
            panic!("webhook expected")
        };
        use secrecy::ExposeSecret;
        assert_eq!(url.expose_secret(), "https://hooks.example/x");
        assert_eq!(secret.as_ref().unwrap().expose_secret(), "whsec_abc");
        assert_eq!(*format, WebhookFormat::Json);
        assert_eq!(
            subs[0].filter.any_tags.as_deref(),
            Some(&["api".to_string(), "rest".to_string()][..])
        );
        assert_eq!(subs[0].language, Language::Nl);
    }
}
