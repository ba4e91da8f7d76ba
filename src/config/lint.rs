//! What `check` holds a feed definition to beyond what reading it checks:
//! the settings a send depends on that can only be judged with the
//! environment (the login variables, the DKIM key) or with the blog's posts
//! (the tags and authors subscribers filter on). Each problem is a
//! [`Diagnostic`] at the line of the setting, with the fix in the sentence,
//! and all of them are reported at once.

use std::path::Path;

use super::BlogConfig;
use super::dkim::{DkimKeySource, DkimSettings, aligned};
use super::email::{EmailTransport, SmtpSecurity, parse_smtp_url};
use super::error::closest;
use super::subscribers::WrittenFilter;
use crate::diag::Diagnostic;

/// `[email]` against the environment: the SMTP URL when the transport needs
/// it, the login variables, a password that would cross the network in
/// clear, the DKIM key, and the unsubscribe link when there are email
/// subscribers.
pub fn email_problems(
    config: &BlogConfig,
    text: &str,
    has_email_subscribers: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Diagnostic> {
    let Some(email) = &config.email else {
        return Vec::new();
    };
    let file = &config.file;
    let place = |key: &str| find_in_table(text, "email", key);
    let at = |key: &str, d: Diagnostic| {
        let (line, column) = place(key);
        d.at(line, column)
    };
    let mut out = Vec::new();
    let endpoint = email
        .smtp_url
        .as_deref()
        .and_then(|u| parse_smtp_url(u).ok());
    if email.transport == EmailTransport::Smtp && email.smtp_url.is_none() {
        out.push(at(
            "transport",
            Diagnostic::error(
                file,
                "email: transport = \"smtp\" needs smtp_url (e.g. smtp_url = \"smtp://mail.example.org:587?tls=required\"); \
                 or write transport = \"file\" for .eml files in outbox",
            ),
        ));
    }
    match (&email.username_env, &email.password_env) {
        (Some(_), None) => out.push(at(
            "username_env",
            Diagnostic::error(
                file,
                "email: username_env without password_env; name the variable with the password too",
            ),
        )),
        (None, Some(_)) => out.push(at(
            "password_env",
            Diagnostic::error(
                file,
                "email: password_env without username_env; name the variable with the user name too",
            ),
        )),
        _ => {}
    }
    for (key, var) in [
        ("username_env", &email.username_env),
        ("password_env", &email.password_env),
    ] {
        if let Some(var) = var
            && env(var).is_none_or(|v| v.is_empty())
        {
            out.push(at(
                key,
                Diagnostic::error(
                    file,
                    format!(
                        "email: {key} names {var}, which is not set; set it in the environment of postbode (e.g. the systemd unit's EnvironmentFile)"
                    ),
                ),
            ));
        }
    }
    if let Some((host, port, security)) = &endpoint {
        let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
        if email.password_env.is_some() && *security == SmtpSecurity::Plain && !loopback {
            out.push(at(
                "smtp_url",
                Diagnostic::error(
                    file,
                    format!(
                        "email: the SMTP password would cross the network to {host} in clear (plain smtp://); \
                         add ?tls=required (STARTTLS, port 587) or use smtps:// (implicit TLS, port 465)"
                    ),
                ),
            ));
        }
        let hint = match (security, port) {
            (SmtpSecurity::Plain | SmtpSecurity::StartTls, 465) => {
                Some("port 465 is implicit TLS: write smtps://")
            }
            (SmtpSecurity::Implicit, 587 | 25) => Some(
                "ports 587 and 25 speak plain SMTP first: write smtp://…?tls=required for STARTTLS",
            ),
            _ => None,
        };
        if let Some(hint) = hint {
            out.push(at(
                "smtp_url",
                Diagnostic::warning(file, format!("email: smtp_url: {hint}")),
            ));
        }
    }
    if let Some(dkim) = &email.dkim {
        out.extend(dkim_problems(dkim, &email.from, file, text, env));
    }
    if config.serve.is_some() && email.unsubscribe_url.is_some() {
        out.push(at(
            "unsubscribe_url",
            Diagnostic::warning(
                file,
                "email: unsubscribe_url is not used: with [serve] every email links to the service's own unsubscribe page",
            ),
        ));
    }
    if has_email_subscribers && email.unsubscribe_url.is_none() && config.serve.is_none() {
        let (line, column) = find_table(text, "email").unwrap_or((1, 1));
        out.push(
            Diagnostic::warning(
                file,
                "email: no unsubscribe_url, so mail goes out without any unsubscribe link; \
                 add unsubscribe_url = \"https://example.org/unsubscribe?s={subscriber}&t={token}\"",
            )
            .at(line, column),
        );
    }
    out
}

/// `[serve]` against the environment: its secret (set, long enough), the
/// API token variable when named, and an `[email]` section to send the
/// confirmation mails with.
pub fn serve_problems(
    config: &BlogConfig,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Diagnostic> {
    let Some(serve) = &config.serve else {
        return Vec::new();
    };
    let file = &config.file;
    let at = |key: &str, d: Diagnostic| {
        let (line, column) = find_in_table(text, "serve", key);
        d.at(line, column)
    };
    let mut out = Vec::new();
    if let Err(message) = serve.secret(env) {
        out.push(at("secret_env", Diagnostic::error(file, message)));
    }
    if let Some(var) = &serve.webhooks_api_token_env
        && env(var).is_none_or(|v| v.trim().is_empty())
    {
        let key = if text.contains("allow_webhooks_api_token_env") {
            "allow_webhooks_api_token_env"
        } else {
            "webhooks_api_token_env"
        };
        out.push(at(
            key,
            Diagnostic::error(
                file,
                format!("serve: {key} names {var}, which is not set; the webhook API would refuse every request"),
            ),
        ));
    }
    if config.email.is_none() {
        let (line, column) = find_table(text, "serve").unwrap_or((1, 1));
        out.push(
            Diagnostic::error(
                file,
                "serve: sign-ups are confirmed by email, but there is no [email] section (from, transport)",
            )
            .at(line, column),
        );
    }
    out
}

/// The DKIM key read as the sender reads it (a file that cannot be read,
/// an unset variable, not a PEM RSA or Ed25519 key), and a signing domain
/// that DMARC will not count for the From address.
fn dkim_problems(
    dkim: &DkimSettings,
    from: &str,
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let key = match dkim.key {
        DkimKeySource::File(_) => "dkim_key_file",
        DkimKeySource::Env(_) => "dkim_key_env",
    };
    if let Err(e) = dkim.signing_key(env) {
        let (line, column) = find_in_table(text, "email", key);
        out.push(Diagnostic::error(file, format!("email: {key}: {e}")).at(line, column));
    }
    let from_domain = from
        .parse::<lettre::message::Mailbox>()
        .map(|m| m.email.domain().to_string())
        .unwrap_or_default();
    if !aligned(&dkim.domain, &from_domain) {
        let (line, column) = find_in_table(text, "email", "dkim_domain");
        out.push(
            Diagnostic::warning(
                file,
                format!(
                    "email: dkim_domain {} is not the domain of from ({from_domain}), so DMARC does not count the signature; \
                     sign with {from_domain} (or a parent domain of it)",
                    dkim.domain
                ),
            )
            .at(line, column),
        );
    }
    out
}

/// Subscribers' tag and author filters against the blog's tags (keys and
/// labels) and authors (keys and names), case-insensitively as they are
/// matched: an unknown one means that subscriber never gets those posts.
pub fn filter_problems(
    written: &[WrittenFilter],
    tags: &[String],
    authors: &[String],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for w in written {
        let (known, what) = if w.key == "authors" {
            (authors, "author")
        } else {
            (tags, "tag")
        };
        let wanted = w.value.trim().to_lowercase();
        if known.iter().any(|k| k.to_lowercase() == wanted) {
            continue;
        }
        let near = closest(&wanted, known.iter().map(String::as_str))
            .map(|n| format!(" (did you mean {n:?}?)"))
            .unwrap_or_default();
        out.push(
            Diagnostic::warning(
                &w.file,
                format!(
                    "subscriber {}: {}: no post has the {what} {:?}{near}, so this filter matches nothing yet",
                    w.subscriber, w.key, w.value
                ),
            )
            .at(w.line, w.column),
        );
    }
    out
}

/// Line and column of `[table]` in a TOML text.
fn find_table(text: &str, table: &str) -> Option<(usize, usize)> {
    let header = format!("[{table}]");
    text.lines()
        .position(|l| l.trim() == header)
        .map(|i| (i + 1, 1))
}

/// Line and column of `key`'s value in `[table]`, else of the table.
fn find_in_table(text: &str, table: &str, key: &str) -> (usize, usize) {
    let header = format!("[{table}]");
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            inside = trimmed == header;
            continue;
        }
        if inside
            && let Some(rest) = trimmed.strip_prefix(key)
            && let Some(value) = rest.trim_start().strip_prefix('=')
        {
            let column = line.len() - value.trim_start().len() + 1;
            return (i + 1, column);
        }
    }
    find_table(text, table).unwrap_or((1, 1))
}

/// The feed definition's text, for placing problems (empty when it cannot
/// be read again: the places fall back to 1:1).
pub fn definition_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
