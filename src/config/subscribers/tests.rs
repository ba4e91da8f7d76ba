//! Subscribers checked one by one: every problem names the subscriber and
//! points at the value at fault, in the file the subscriber was written in.

use std::path::Path;

use super::*;

const HEAD: &str = "title = \"T\"\nsite_url = \"https://example.org\"\nsource = \"blog\"\n";

/// Parses a feed definition at `dir/blog.toml` and resolves its subscribers
/// with `env` as the environment; problems as `check` prints them.
fn resolve_in(dir: &Path, text: &str, env: &[(&str, &str)]) -> (Vec<Subscriber>, Vec<String>) {
    let file = dir.join("blog.toml");
    let config = crate::config::parse(text, &file).unwrap();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (subs, problems) = resolve(
        config.subscribers.as_ref(),
        dir,
        &file,
        config.language.as_deref(),
        &lookup,
    );
    (subs, problems.iter().map(|d| d.to_string()).collect())
}

fn check(subscribers: &str, env: &[(&str, &str)]) -> (Vec<Subscriber>, Vec<String>) {
    resolve_in(Path::new("/feeds"), &format!("{HEAD}{subscribers}"), env)
}

#[test]
fn every_kind_of_invalid_subscriber_is_named_at_its_line_and_column() {
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
id = "bad-address"
email = "nobody@"
[[subscribers]]
id = "no-secret"
webhook = "https://x.example/h"
secret_env = "NO_SECRET_HERE"
[[subscribers]]
id = "not-a-url"
webhook = "chat/hook"
[[subscribers]]
id = "daily-ish"
email = "d@example.org"
digest = "hourly"
[[subscribers]]
id = "fr"
email = "f@example.org"
language = "fr"
[[subscribers]]
id = "ok"
webhook = "http://127.0.0.1:9/h"
format = "slack"
"#,
        &[],
    );
    let expected = [
        "/feeds/blog.toml:5:1: error: subscriber #1: has no `id` (a stable, unique id per blog is required)",
        "/feeds/blog.toml:11:6: error: subscriber dup: the id is used twice",
        "/feeds/blog.toml:13:1: error: subscriber both: needs exactly one of `email`, `webhook` or `webhook_env`",
        "/feeds/blog.toml:17:1: error: subscriber neither: needs exactly one of `email`, `webhook` or `webhook_env`",
        "/feeds/blog.toml:22:10: error: subscriber bad-format: unknown format \"irc\" (json, slack, teams, mattermost or discord)",
        "/feeds/blog.toml:25:15: error: subscriber unset-env: webhook_env names NOT_SET_ANYWHERE, which is not set",
        "/feeds/blog.toml:28:11: error: subscriber plain-http: the webhook URL must use https (got http:); set allow_http = true to allow plain http",
        "/feeds/blog.toml:31:9: error: subscriber bad-address: \"nobody@\" is not an email address",
        "/feeds/blog.toml:35:14: error: subscriber no-secret: secret_env names NO_SECRET_HERE, which is not set",
        "/feeds/blog.toml:38:11: error: subscriber not-a-url: the webhook URL is not a URL (relative URL without a base)",
        "/feeds/blog.toml:42:10: error: subscriber daily-ish: unknown digest \"hourly\" (none, daily or weekly)",
        "/feeds/blog.toml:46:12: error: subscriber fr: unknown language \"fr\" (nl or en)",
    ];
    assert_eq!(problems, expected);
    let ids: Vec<&str> = subs.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["dup", "ok"]);
}

#[test]
fn problems_of_a_separate_subscribers_file_point_into_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("subs.toml"),
        "[[subscribers]]\nid = \"a\"\nemail = \"a@example.org\"\n\n[[subscribers]]\nid = \"hook\"\nwebhook_env = \"UNSET_HOOK\"\n",
    )
    .unwrap();
    let text = format!("{HEAD}subscribers = \"subs.toml\"\n");
    let (subs, problems) = resolve_in(dir.path(), &text, &[]);
    let file = dir.path().join("subs.toml");
    assert_eq!(
        problems,
        [format!(
            "{}:7:15: error: subscriber hook: webhook_env names UNSET_HOOK, which is not set",
            file.display()
        )]
    );
    assert_eq!(subs.len(), 1);
}

#[test]
fn a_mistake_in_a_subscribers_file_names_the_key_and_its_place() {
    let cases = [
        (
            "[[subscribers]]\nid = \"a\"\nemial = \"a@example.org\"\n",
            "3:1: error: subscribers: unknown key \"emial\" (did you mean \"email\"?)",
        ),
        (
            "[[subscribers]]\nid = \"a\"\nemail = \"a@example.org\"\ntags = \"api\"\n",
            "4:8: error: subscribers.tags: expected a list, found \"api\"",
        ),
        (
            "subscriber = []\n",
            "1:1: error: unknown key \"subscriber\" (did you mean \"subscribers\"?)",
        ),
        (
            "[[subscribers]]\nid = \"a\n",
            "2:8: error: invalid basic string, expected `\"`",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("subs.toml");
    let text = format!("{HEAD}subscribers = \"subs.toml\"\n");
    for (subs_text, expected) in cases {
        std::fs::write(&file, subs_text).unwrap();
        let (subs, problems) = resolve_in(dir.path(), &text, &[]);
        assert!(subs.is_empty());
        assert_eq!(
            problems,
            [format!("{}:{expected}", file.display())],
            "for {subs_text:?}"
        );
    }
}

#[test]
fn an_unreadable_subscribers_file_is_one_problem() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{HEAD}subscribers = \"missing.toml\"\n");
    let (subs, problems) = resolve_in(dir.path(), &text, &[]);
    assert!(subs.is_empty());
    assert_eq!(problems.len(), 1);
    let prefix = format!(
        "{}: error: cannot read subscribers:",
        dir.path().join("missing.toml").display()
    );
    assert!(problems[0].starts_with(&prefix), "{problems:?}");
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
        &[
            ("HOOK", "https://hooks.example/x"),
            ("SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ],
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
    assert_eq!(
        secret.as_ref().unwrap().expose_secret(),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    );
    assert_eq!(*format, WebhookFormat::Json);
    assert_eq!(
        subs[0].filter.any_tags.as_deref(),
        Some(&["api".to_string(), "rest".to_string()][..])
    );
    assert_eq!(subs[0].language, Language::Nl);
}

#[test]
fn a_webhook_url_from_the_environment_is_blamed_on_the_variable_and_never_shown() {
    let (_, problems) = check(
        "[[subscribers]]\nid = \"h\"\nwebhook_env = \"HOOK\"\n",
        &[("HOOK", "http://hooks.example/secret-token")],
    );
    assert_eq!(
        problems,
        [
            "/feeds/blog.toml:6:15: error: subscriber h: the webhook URL must use https (got http:); set allow_http = true to allow plain http"
        ]
    );
}

#[test]
fn a_signing_secret_that_is_not_whsec_or_base64_is_refused_with_the_fix() {
    let (subs, problems) = check(
        r#"
[[subscribers]]
id = "team"
webhook = "https://hooks.example/x"
secret_env = "SECRET"
"#,
        &[("SECRET", "my-secret-passphrase!")],
    );
    assert!(subs.is_empty());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(":8:14: error: subscriber team: secret_env SECRET: the secret is not \"whsec_<base64>\" or base64"), "{problems:?}");
    assert!(
        problems[0].contains("openssl rand -base64 32"),
        "{problems:?}"
    );
    for good in [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert!(super::signing_key(good).is_ok(), "{good}");
    }
}
