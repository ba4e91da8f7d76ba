//! `postbode subscribers`: the operator's view of who gets what, and the
//! privacy duties that come with a public list (AVG/GDPR): `list` every
//! subscriber of the feed definition and of `postbode serve`, marked by
//! origin; `export` one person's data as JSON; `remove` erases one person
//! now; `import` adds addresses whose consent the operator holds.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::cli::output::{self, JsonPerBlog};
use crate::cli::{Outcome, for_each_blog};
use crate::config::BlogConfig;
use crate::config::subscribers::{Language, Origin, Target};
use crate::state::subscriptions::{Choices, Kind, Subscription, subscription_id};
use crate::state::{HistoryFilter, StateError, Store};

/// Who `export` and `remove` are about: a subscriber id or an address.
pub enum Person {
    Id(String),
    Email(String),
}

pub async fn list(files: &[PathBuf], json: bool, state: Option<&Path>) -> Outcome {
    let mut doc = JsonPerBlog::default();
    let outcome = for_each_blog(files, state, async |c| {
        let rows = match rows(c).await {
            Ok(rows) => rows,
            Err(e) => {
                output::error(e);
                return Outcome::Fatal;
            }
        };
        if json {
            doc.push(&json!({ "blog": c.name, "subscribers": rows }));
            return Outcome::Ok;
        }
        output::stdout(|w| {
            writeln!(
                w,
                "{}: {}",
                c.name,
                output::count(rows.len() as u64, "subscriber", "subscribers")
            )?;
            writeln!(
                w,
                "  {:<22} {:<10} {:<8} {:<12} {:<7} TO",
                "ID", "ORIGIN", "CHANNEL", "STATUS", "DIGEST"
            )?;
            for r in &rows {
                writeln!(
                    w,
                    "  {:<22} {:<10} {:<8} {:<12} {:<7} {}",
                    r["id"].as_str().unwrap_or_default(),
                    r["origin"].as_str().unwrap_or_default(),
                    r["channel"].as_str().unwrap_or_default(),
                    r["status"].as_str().unwrap_or_default(),
                    r["digest"].as_str().unwrap_or_default(),
                    r["to"].as_str().unwrap_or_default(),
                )?;
            }
            Ok(())
        })
    })
    .await;
    if json {
        return outcome.max(doc.print());
    }
    outcome
}

/// Every subscriber of a blog as one JSON object each: the definition's
/// (marked `unsubscribed` when they left through a link) and the
/// service's (`pending` until confirmed). Webhook URLs are secrets: only
/// their host is shown.
async fn rows(config: &BlogConfig) -> Result<Vec<serde_json::Value>, StateError> {
    let (defined, _) = crate::notify::subscribers(config);
    let store = Store::open_read_only(&config.state).await?;
    let (left, signed_up) = match &store {
        Some(store) => (
            store.opt_outs(&config.name).await?,
            store.subscriptions(&config.name).await?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let mut out = Vec::new();
    for s in &defined {
        let to = match &s.target {
            Target::Email { address } => address.clone(),
            Target::Webhook { url, .. } => host_of(secrecy::ExposeSecret::expose_secret(url)),
        };
        out.push(json!({
            "id": s.id,
            "origin": Origin::Definition.name(),
            "channel": s.target.channel(),
            "status": if left.contains(&s.id) { "unsubscribed" } else { "active" },
            "digest": s.digest.name(),
            "to": to,
        }));
    }
    for s in &signed_up {
        out.push(json!({
            "id": s.subscriber_id(),
            "origin": "serve",
            "channel": s.kind.name(),
            "status": if s.confirmed_at.is_some() { "confirmed" } else { "pending" },
            "digest": s.choices.digest,
            "to": match s.kind { Kind::Email => s.target.clone(), Kind::Webhook => host_of(&s.target) },
            "tags": s.choices.tags,
            "authors": s.choices.authors,
            "requested_at": s.requested_at,
            "confirmed_at": s.confirmed_at,
        }));
    }
    if let Some(store) = store {
        store.close().await;
    }
    Ok(out)
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(|h| format!("{}://{h}/…", u.scheme())))
        .unwrap_or_else(|| "(hidden)".into())
}

/// The subscription of the service a person is, if any.
async fn find(store: &Store, blog: &str, who: &Person) -> Result<Option<Subscription>, StateError> {
    Ok(match who {
        Person::Id(id) => match subscription_id(id) {
            Some(n) => store.subscription(blog, n).await?,
            None => None,
        },
        Person::Email(address) => {
            let wanted = address.to_lowercase();
            store
                .subscriptions(blog)
                .await?
                .into_iter()
                .find(|s| s.kind == Kind::Email && s.target.to_lowercase() == wanted)
        }
    })
}

pub async fn export(config_file: &Path, who: Person, state: Option<&Path>) -> Outcome {
    for_each_blog(&[config_file.to_path_buf()], state, async |c| {
        let result = async {
            let Some(store) = Store::open_read_only(&c.state).await? else {
                return Ok(None);
            };
            let found = find(&store, &c.name, &who).await?;
            let sent = match &found {
                Some(s) => {
                    let filter = HistoryFilter {
                        subscriber: Some(s.subscriber_id()),
                        ..HistoryFilter::default()
                    };
                    store.history(&c.name, &filter).await?
                }
                None => Vec::new(),
            };
            store.close().await;
            Ok::<_, StateError>(found.map(|s| (s, sent)))
        }
        .await;
        match result {
            Err(e) => {
                output::error(e);
                Outcome::Fatal
            }
            Ok(None) => {
                output::error(format_args!(
                    "{}: no such subscriber of postbode serve",
                    c.name
                ));
                Outcome::Fatal
            }
            Ok(Some((s, sent))) => output::json(&json!({
                "blog": c.name,
                "subscription": s,
                "sent": sent.iter().map(|d| json!({
                    "post": d.permalink,
                    "title": d.title,
                    "channel": d.channel,
                    "sent_at": d.sent_at,
                })).collect::<Vec<_>>(),
            })),
        }
    })
    .await
}

pub async fn remove(config_file: &Path, who: Person, state: Option<&Path>) -> Outcome {
    for_each_blog(&[config_file.to_path_buf()], state, async |c| {
        let result = async {
            let store = Store::open_existing(&c.state).await?;
            let found = find(&store, &c.name, &who).await?;
            let removed = match &found {
                Some(s) => store.remove_subscription(&c.name, s.id).await?,
                None => false,
            };
            store.close().await;
            Ok::<_, StateError>(found.filter(|_| removed))
        }
        .await;
        match result {
            Err(e) => {
                output::error(e);
                Outcome::Fatal
            }
            Ok(None) => {
                output::error(format_args!(
                    "{}: no such subscriber of postbode serve (subscribers of the feed definition are removed from its file)",
                    c.name
                ));
                Outcome::Fatal
            }
            Ok(Some(s)) => {
                output::note(format_args!(
                    "{}: removed {} and its deliveries not yet sent",
                    c.name,
                    s.subscriber_id()
                ));
                Outcome::Ok
            }
        }
    })
    .await
}

/// `import`: one address per line, or CSV lines `address,tags,authors,digest`
/// (tags and authors separated by `;`); `#` starts a comment. Each bad line
/// is reported with its number and skipped; the others are imported as
/// confirmed.
pub async fn import(
    config_file: &Path,
    list: &Path,
    now: DateTime<Utc>,
    state: Option<&Path>,
) -> Outcome {
    let text = match std::fs::read_to_string(list) {
        Ok(t) => t,
        Err(e) => {
            output::error(format_args!("{}: {e}", list.display()));
            return Outcome::Fatal;
        }
    };
    for_each_blog(&[config_file.to_path_buf()], state, async |c| {
        let language = Language::of_blog(c.language.as_deref()).code();
        let mut worst = Outcome::Ok;
        let (mut added, mut known) = (0u64, 0u64);
        let store = match Store::open_for_run(&c.state, false).await {
            Ok(s) => s,
            Err(e) => {
                output::error(e);
                return Outcome::Fatal;
            }
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (address, choices) = match parse_line(line, language) {
                Ok(parsed) => parsed,
                Err(why) => {
                    output::error(format_args!("{}:{}: {why}", list.display(), n + 1));
                    worst = Outcome::Problems;
                    continue;
                }
            };
            match store
                .add_confirmed(&c.name, Kind::Email, &address, None, &choices, now)
                .await
            {
                Ok(Some(_)) => added += 1,
                Ok(None) => known += 1,
                Err(e) => {
                    output::error(e);
                    store.close().await;
                    return Outcome::Fatal;
                }
            }
        }
        store.close().await;
        output::note(format_args!(
            "{}: imported {}, {} already subscribed",
            c.name,
            output::count(added, "address", "addresses"),
            known
        ));
        worst
    })
    .await
}

fn parse_line(line: &str, language: &str) -> Result<(String, Choices), String> {
    let mut fields = line.split(',').map(str::trim);
    let address = fields.next().unwrap_or_default().to_string();
    if address.len() > 254 || address.parse::<lettre::Address>().is_err() {
        return Err(format!("{address:?} is not an email address"));
    }
    let list = |f: Option<&str>| -> Vec<String> {
        f.unwrap_or_default()
            .split(';')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let tags = list(fields.next());
    let authors = list(fields.next());
    let digest = fields.next().filter(|d| !d.is_empty()).unwrap_or("none");
    if crate::config::subscribers::Digest::from_name(digest).is_none() {
        return Err(format!("unknown digest {digest:?} (none, daily or weekly)"));
    }
    Ok((
        address,
        Choices {
            tags,
            authors,
            digest: digest.to_string(),
            language: language.to_string(),
        },
    ))
}
