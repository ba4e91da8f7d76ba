//! Feed definitions parsed from strings: defaults, paths, and every kind of
//! mistake reported with its file, line and column.

use super::*;
use dkim::{DkimKeySource, DkimSettings};

const MINIMAL: &str = r#"
title = "Example"
site_url = "https://example.org/"
source = "../examples/blog"
"#;

#[test]
fn defaults_follow_docusaurus_and_paths_are_relative_to_the_file() {
    let c = parse(MINIMAL, Path::new("/srv/feeds/example.toml")).unwrap();
    assert_eq!(c.site_url, "https://example.org");
    assert_eq!(c.blog_path, "/blog");
    assert_eq!(c.feeds_url, "https://example.org/blog");
    assert_eq!(c.source, Path::new("/srv/examples/blog"));
    assert_eq!(c.output, Path::new("/srv/out/example"));
    assert_eq!(c.state.file(), Some(Path::new("/srv/state.db")));
    assert_eq!(c.limit, 20);
    assert_eq!(c.formats.len(), 3);
    assert!(c.by_tag && c.by_author);
    assert_eq!(c.timezone, chrono_tz::UTC);
    assert_eq!(c.blog_route("/tags"), "/blog/tags");
}

#[test]
fn defaults_land_outside_a_feeds_folder_and_beside_any_other_definition() {
    let text = format!("{MINIMAL}[email]\nfrom = \"a@example.org\"\n");
    let c = parse(&text, Path::new("feeds/example.toml")).unwrap();
    assert_eq!(c.source, Path::new("examples/blog"));
    assert_eq!(c.output, Path::new("out/example"));
    assert_eq!(c.state.file(), Some(Path::new("state.db")));
    assert_eq!(c.email.unwrap().outbox, Path::new("outbox"));
    let c = parse(&text, Path::new("/etc/postbode/blog.toml")).unwrap();
    assert_eq!(c.output, Path::new("/etc/postbode/out/blog"));
    assert_eq!(c.state.file(), Some(Path::new("/etc/postbode/state.db")));
    // Explicit paths stay relative to the definition, cleaned up.
    let text = format!("{MINIMAL}output = \"./site/../public\"\nstate = \"../var/s.db\"\n");
    let c = parse(&text, Path::new("/srv/feeds/example.toml")).unwrap();
    assert_eq!(c.output, Path::new("/srv/feeds/public"));
    assert_eq!(c.state.file(), Some(Path::new("/srv/var/s.db")));
}

#[test]
fn a_blog_at_the_site_root_has_routes_without_prefix() {
    let text = format!("{MINIMAL}blog_path = \"/\"\n");
    let c = parse(&text, Path::new("x.toml")).unwrap();
    assert_eq!(c.blog_path, "/");
    assert_eq!(c.feeds_url, "https://example.org");
    assert_eq!(c.blog_route("tags"), "/tags");
}

#[test]
fn an_unknown_key_is_an_error_naming_the_key_and_the_file() {
    let text = format!("{MINIMAL}limt = 5\n");
    let err = parse(&text, Path::new("feeds/x.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("feeds/x.toml:5:1"), "{err}");
    assert!(err.contains("limt"), "{err}");
}

#[test]
fn a_git_source_keeps_its_spec_and_relative_tags_file() {
    let text = MINIMAL.replace(
            r#"source = "../examples/blog""#,
            r#"source = { git = "https://github.com/developer-overheid-nl/don-site", branch = "main", path = "blog" }
tags_file = "tags.yml"
websub_hub = "https://hub.example.org/""#,
        );
    let c = parse(&text, Path::new("/srv/feeds/x.toml")).unwrap();
    let git = c.git.unwrap();
    assert_eq!(git.url, "https://github.com/developer-overheid-nl/don-site");
    assert_eq!(git.branch, "main");
    assert_eq!(git.path, Path::new("blog"));
    assert_eq!(git.tags_file.as_deref(), Some(Path::new("tags.yml")));
    assert_eq!(c.tags_file, None);
    assert_eq!(c.websub_hub.as_deref(), Some("https://hub.example.org/"));
}

#[test]
fn a_git_source_path_must_stay_inside_the_repository() {
    let text = MINIMAL.replace(
        r#"source = "../examples/blog""#,
        r#"source = { git = "https://example.org/r.git", path = "../etc" }"#,
    );
    let err = parse(&text, Path::new("x.toml")).unwrap_err().to_string();
    assert!(err.contains("inside the repository"), "{err}");
}

#[test]
fn a_bad_timezone_is_an_error() {
    let text = format!("{MINIMAL}timezone = \"Mars/Olympus\"\n");
    let err = parse(&text, Path::new("x.toml")).unwrap_err().to_string();
    assert!(err.contains("Mars/Olympus"), "{err}");
}

/// `MINIMAL` with its line `from` replaced by `to` (or `to` appended when
/// `from` is empty), parsed as `feeds/x.toml`; the error as printed.
fn error_of(from: &str, to: &str) -> String {
    let text = if from.is_empty() {
        format!("{MINIMAL}{to}\n")
    } else {
        assert!(MINIMAL.contains(from), "{from}");
        MINIMAL.replace(from, to)
    };
    match parse(&text, Path::new("feeds/x.toml")) {
        Ok(_) => panic!("{text} parsed"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_mistake_in_a_feed_definition_is_reported_at_its_place_in_a_sentence() {
    let site = r#"site_url = "https://example.org/""#;
    let source = r#"source = "../examples/blog""#;
    let cases = [
        (
            "",
            "timezone = \"Europe/Amsterdm\"",
            "feeds/x.toml:5:12: timezone: unknown time zone \"Europe/Amsterdm\" (did you mean \"Europe/Amsterdam\"?)",
        ),
        (
            "",
            "timezone = \"Mars/Olympus\"",
            "feeds/x.toml:5:12: timezone: unknown time zone \"Mars/Olympus\" (use an IANA name such as \"Europe/Amsterdam\")",
        ),
        (
            "",
            "limt = 5",
            "feeds/x.toml:5:1: unknown key \"limt\" (did you mean \"limit\"?)",
        ),
        (
            "",
            "limit = 0",
            "feeds/x.toml:5:9: limit: must be at least 1",
        ),
        (
            "",
            "limit = \"5\"",
            "feeds/x.toml:5:9: limit: expected a whole number (0 or more), found \"5\"",
        ),
        (
            "",
            "by_tag = \"yes\"",
            "feeds/x.toml:5:10: by_tag: expected true or false, found \"yes\"",
        ),
        (
            "",
            "formats = []",
            "feeds/x.toml:5:11: formats: name at least one format (\"atom\", \"rss\" or \"json\")",
        ),
        (
            "",
            "formats = [\"atom\", \"atm\"]",
            "feeds/x.toml:5:20: formats: unknown value \"atm\" (expected atom, rss or json)",
        ),
        (
            "",
            "formats = \"atom\"",
            "feeds/x.toml:5:11: formats: expected a list, found \"atom\"",
        ),
        (
            "",
            "feeds_url = \"example.org/feeds\"",
            "feeds/x.toml:5:13: feeds_url: \"example.org/feeds\" is not a URL (relative URL without a base)",
        ),
        (
            "",
            "websub_hub = \"ftp://hub.example.org\"",
            "feeds/x.toml:5:14: websub_hub: \"ftp://hub.example.org\" must be an http or https URL",
        ),
        (
            site,
            "site_url = \"example.org\"",
            "feeds/x.toml:3:12: site_url: \"example.org\" is not a URL (relative URL without a base)",
        ),
        (
            site,
            "site_url = \"https://example.org/docs/\"",
            "feeds/x.toml:3:12: site_url: \"https://example.org/docs/\" must not have a path; put the path in blog_path",
        ),
        (site, "", "feeds/x.toml:1:1: missing key \"site_url\""),
        (
            source,
            "source = 5",
            "feeds/x.toml:4:10: source: expected a folder (\"blog\") or a git repository ({ git = \"https://…\", branch = \"main\", path = \"blog\" }), found 5",
        ),
        (
            source,
            "source = { git = \"\" }",
            "feeds/x.toml:4:18: source.git: must be a repository URL",
        ),
        (
            source,
            "source = { git = \"https://example.org/r.git\", branch = \"--force\" }",
            "feeds/x.toml:4:56: source.branch: \"--force\" is not a branch name",
        ),
        (
            source,
            "source = { git = \"https://example.org/r.git\", path = \"../etc\" }",
            "feeds/x.toml:4:54: source.path: \"../etc\" must be a folder inside the repository",
        ),
        (
            source,
            "source = { git = \"https://example.org/r.git\", brnach = \"main\" }",
            "feeds/x.toml:4:47: source: unknown key \"brnach\" (did you mean \"branch\"?)",
        ),
        (
            source,
            "source = { branch = \"main\" }",
            "feeds/x.toml:4:10: source: missing key \"git\"",
        ),
        (
            "",
            "subscribers = 5",
            "feeds/x.toml:5:15: subscribers: expected a file name (\"subscribers.toml\") or [[subscribers]] tables, found 5",
        ),
        (
            "",
            "[subscribers]\nid = \"a\"",
            "feeds/x.toml:5:1: subscribers: expected a file name (\"subscribers.toml\") or [[subscribers]] tables, found a table",
        ),
        (
            "",
            "[[subscribers]]\nid = \"a\"\nemial = \"a@example.org\"",
            "feeds/x.toml:7:1: subscribers: unknown key \"emial\" (did you mean \"email\"?)",
        ),
        (
            "",
            "[[subscribers]]\nid = \"a\"\ntags = \"api\"",
            "feeds/x.toml:7:8: subscribers.tags: expected a list, found \"api\"",
        ),
        (
            "",
            "[[subscribers]]\nid = 5",
            "feeds/x.toml:6:6: subscribers.id: expected a string in quotes, found 5",
        ),
        (
            "",
            "timezone = 1",
            "feeds/x.toml:5:12: timezone: expected a string in quotes, found 1",
        ),
        (
            "",
            "email = \"me@example.org\"",
            "feeds/x.toml:5:9: email: expected an [email] table (from = \"Blog <noreply@example.org>\", transport = \"smtp\" or \"file\"), found \"me@example.org\"",
        ),
        (
            "",
            "[email]\ntransport = \"smtp\"",
            "feeds/x.toml:5:1: email: missing key \"from\"",
        ),
        (
            "",
            "[email]\nfrom = \"Blog\"",
            "feeds/x.toml:6:8: email.from: \"Blog\" is not an email address (write \"Name <address@example.org>\" or \"address@example.org\")",
        ),
        (
            "",
            "[email]\nfrom = \"a@example.org\"\ntransport = \"smtps\"",
            "feeds/x.toml:7:13: email.transport: unknown value \"smtps\" (expected smtp or file)",
        ),
        (
            "",
            "[email]\nfrom = \"a@example.org\"\nsmtp_url = \"mail.example.org\"",
            "feeds/x.toml:7:12: email.smtp_url: \"mail.example.org\" has no scheme: write \"smtp://mail.example.org\" (STARTTLS: add ?tls=required; implicit TLS: smtps://)",
        ),
        (
            "",
            "[email]\nfrom = \"a@example.org\"\nsmtp_url = \"https://mail.example.org\"",
            "feeds/x.toml:7:12: email.smtp_url: \"https://mail.example.org\": scheme https: is not smtp: or smtps:; write smtp://host (STARTTLS: ?tls=required) or smtps://host (implicit TLS)",
        ),
        (
            "",
            "[email]\nfrom = \"a@example.org\"\nsmtp_url = \"smtp://me:hunter2@mail.example.org\"",
            "feeds/x.toml:7:12: email.smtp_url: must not hold a login; name environment variables in username_env and password_env",
        ),
        (
            "",
            "[email]\nfrom = \"a@example.org\"\nreply_to = \"nobody\"",
            "feeds/x.toml:7:12: email.reply_to: \"nobody\" is not an email address (write \"Name <address@example.org>\" or \"address@example.org\")",
        ),
        (
            "",
            "delivery = 3",
            "feeds/x.toml:5:12: delivery: expected a [delivery] table (max_attempts = 10, …), found 3",
        ),
        (
            "",
            "[delivery]\nmax_attempts = -1",
            "feeds/x.toml:6:16: delivery.max_attempts: expected a whole number (0 or more), found -1",
        ),
        (
            "",
            "[delivery]\nretries = 3",
            "feeds/x.toml:6:1: delivery: unknown key \"retries\" (expected max_age_hours, max_attempts, webhook_concurrency, per_host_concurrency, webhook_timeout_seconds or lock_wait_seconds)",
        ),
        (
            "",
            "title = \"Again\"",
            "feeds/x.toml:5:1: the key title is set twice",
        ),
    ];
    for (from, to, expected) in cases {
        assert_eq!(error_of(from, to), expected, "for {to:?}");
    }
}

#[test]
fn a_password_in_a_malformed_smtp_url_is_not_repeated() {
    let err = error_of(
        "",
        "[email]\nfrom = \"a@example.org\"\nsmtp_url = \"http://me:hunter2@mail.example.org\"",
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn email_and_delivery_settings_are_read_with_paths_resolved() {
    let text = format!(
        "{MINIMAL}[email]\nfrom = \"Blog <noreply@example.org>\"\ntransport = \"smtp\"\nsmtp_url = \"smtp://mail.example.org?tls=required\"\noutbox = \"mail\"\n\n[delivery]\nmax_attempts = 3\n"
    );
    let c = parse(&text, Path::new("/srv/feeds/x.toml")).unwrap();
    let email = c.email.unwrap();
    assert_eq!(email.transport, EmailTransport::Smtp);
    assert_eq!(email.outbox, Path::new("/srv/feeds/mail"));
    assert_eq!(email.dkim, None);
    assert_eq!(c.delivery.max_attempts, Some(3));

    let text = format!(
        "{MINIMAL}[email]\nfrom = \"noreply@example.org\"\ndkim_selector = \"s1\"\ndkim_domain = \"Example.org\"\ndkim_key_file = \"../keys/dkim.pem\"\n"
    );
    let email = parse(&text, Path::new("/srv/feeds/x.toml"))
        .unwrap()
        .email
        .unwrap();
    assert_eq!(
        email.dkim,
        Some(DkimSettings {
            selector: "s1".into(),
            domain: "example.org".into(),
            key: DkimKeySource::File("/srv/keys/dkim.pem".into()),
        })
    );
}

#[test]
fn the_static_folder_is_the_one_beside_the_blog_or_the_one_configured_inside_a_checkout() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("blog")).unwrap();
    let def = site.path().join("feeds.toml");
    let text = "title = \"T\"\nsite_url = \"https://example.org\"\nsource = \"blog\"\n";
    // No `static/` beside the blog: none.
    assert_eq!(parse(text, &def).unwrap().static_folder(), None);
    std::fs::create_dir_all(site.path().join("static")).unwrap();
    assert_eq!(
        parse(text, &def).unwrap().static_folder(),
        Some(site.path().join("static"))
    );
    let explicit = format!("{text}static_dir = \"public/../assets\"\n");
    assert_eq!(
        parse(&explicit, &def).unwrap().static_folder(),
        Some(site.path().join("assets"))
    );
    // A git source: relative to the checkout, and never outside it.
    let git = "title = \"T\"\nsite_url = \"https://example.org\"\nsource = { git = \"https://example.org/r.git\", path = \"website/blog\" }\n";
    let checkout = |toml: &str| {
        let mut c = parse(toml, &def).unwrap();
        c.source = site.path().join("website/blog");
        c.static_folder()
    };
    assert_eq!(checkout(git), None, "no website/static");
    assert_eq!(
        checkout(&format!("{git}static_dir = \"static\"\n")),
        Some(site.path().join("static"))
    );
    assert_eq!(
        checkout(&format!("{git}static_dir = \"../../etc\"\n")),
        None
    );
}
