//! Misconfigurations caught before they cost mail: `check` names every
//! setting a send depends on (file, line, fix), and `run`/`notify` say in
//! their exit code when nothing could be sent (1) or the configuration makes
//! sending impossible (2), so cron and systemd notice. Real SMTP server
//! (`tests/tools/smtp_server.py`), real processes.

use crate::helpers::{Run, SmtpServer, TestBlog, test_pki};

/// A blog with one published post and one email subscriber, sending over
/// `smtp_url` with these extra `[email]` lines.
fn mail_blog(smtp_url: &str, email_extra: &str) -> TestBlog {
    let blog = TestBlog::new(&format!(
        "state = \"state.db\"\n\n[email]\nfrom = \"noreply@example.org\"\n\
         transport = \"smtp\"\nsmtp_url = \"{smtp_url}\"\n\
         unsubscribe_url = \"https://example.org/u?s={{subscriber}}&t={{token}}\"\n{email_extra}\n\
         [[subscribers]]\nid = \"ann\"\nemail = \"ann@example.org\"\n"
    ));
    blog.write("2025-07-01-hallo.md", "---\ntitle: Hallo\n---\nTekst.\n");
    blog
}

fn notify(blog: &TestBlog, env: &[(&str, &str)]) -> Run {
    let run = blog.run_with_env(
        &[
            "--now",
            "2025-07-16T00:00:00Z",
            "notify",
            "--backfill",
            "2025-06-01",
        ],
        env,
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

#[test]
fn a_run_that_could_send_nothing_because_the_mail_server_is_down_exits_1_and_says_why() {
    // A port that was just listening and is not any more: connection refused.
    let port = SmtpServer::start(None, &[]).port;
    let blog = mail_blog(&format!("smtp://127.0.0.1:{port}"), "");
    let run = notify(&blog, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("0 sent, 1 retrying"), "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing could be sent"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("cannot connect"), "{}", run.stderr);

    // `run` too: the feeds are written, the mail is not.
    let blog = mail_blog(&format!("smtp://127.0.0.1:{port}"), "");
    let run = blog.run(&[
        "--now",
        "2025-07-16T00:00:00Z",
        "run",
        "--backfill",
        "2025-06-01",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing could be sent"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_refused_login_exits_2_and_points_at_the_configuration() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(pki.path());
    let server = SmtpServer::start(
        Some(&pki.path().join("mail")),
        &[
            "--tls",
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            "--auth",
            "postbode:s3cret",
        ],
    );
    let blog = mail_blog(
        &format!("smtps://localhost:{}", server.port),
        "username_env = \"MISCONFIG_SMTP_USER\"\npassword_env = \"MISCONFIG_SMTP_PASSWORD\"\n",
    );
    let env = [
        ("MISCONFIG_SMTP_USER", "postbode"),
        ("MISCONFIG_SMTP_PASSWORD", "wrong"),
        ("POSTBODE_SMTP_CA_FILE", ca.to_str().unwrap()),
    ];
    let run = notify(&blog, &env);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("login"), "{}", run.stderr);
    assert!(
        run.stderr.contains("until the configuration is fixed"),
        "{}",
        run.stderr
    );
    assert!(server.received().is_empty());
    // The delivery waits: with the password fixed, it goes out.
    let env = [
        ("MISCONFIG_SMTP_USER", "postbode"),
        ("MISCONFIG_SMTP_PASSWORD", "s3cret"),
        ("POSTBODE_SMTP_CA_FILE", ca.to_str().unwrap()),
    ];
    let run = blog.run_with_env(&["--now", "2025-07-17T00:00:00Z", "notify"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(server.received().len(), 1);
}

/// A blog with one post tagged `kubernetes` by `jan`, and this definition
/// after the common lines.
fn check_blog(extra: &str) -> TestBlog {
    let blog = TestBlog::new(extra);
    blog.write("authors.yml", "jan:\n  name: Jan Jansen\n");
    blog.write(
        "2025-07-01-k8s.md",
        "---\ntitle: K8s\ntags: [kubernetes]\nauthors: jan\n---\nTekst.\n",
    );
    blog
}

fn check(blog: &TestBlog, env: &[(&str, &str)]) -> Run {
    let run = blog.run_with_env(&["--now", "2025-07-16T00:00:00Z", "check"], env);
    eprintln!("{}", run.stderr);
    run
}

#[test]
fn check_reports_every_setting_a_send_depends_on_at_once_with_file_line_and_fix() {
    let blog = check_blog(
        r#"
[email]
from = "noreply@example.org"
transport = "smtp"
smtp_url = "smtp://mail.example.org:587"
username_env = "MISCONFIG_UNSET_USER"
password_env = "MISCONFIG_UNSET_PASSWORD"

[[subscribers]]
id = "k8s"
email = "k8s@example.org"
tags = ["kubernets"]
exclude_tags = ["kubernetes", "windoze"]

[[subscribers]]
id = "by-jan"
email = "jan-fans@example.org"
authors = ["jna"]
all_tags = ["Kubernetes"]

[[subscribers]]
id = "hook"
webhook = "https://hooks.example.org/x"
secret_env = "MISCONFIG_SECRET"
"#,
    );
    let run = check(&blog, &[("MISCONFIG_SECRET", "my secret passphrase")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let file = blog.toml().display().to_string();
    for expected in [
        format!(
            "{file}:11:16: error: email: username_env names MISCONFIG_UNSET_USER, which is not set"
        ),
        format!(
            "{file}:12:16: error: email: password_env names MISCONFIG_UNSET_PASSWORD, which is not set"
        ),
        format!(
            "{file}:10:12: error: email: the SMTP password would cross the network to mail.example.org in clear"
        ),
        format!(
            "{file}:17:9: warning: subscriber k8s: tags: no post has the tag \"kubernets\" (did you mean \"kubernetes\"?)"
        ),
        format!(
            "{file}:18:31: warning: subscriber k8s: exclude_tags: no post has the tag \"windoze\""
        ),
        format!(
            "{file}:23:12: warning: subscriber by-jan: authors: no post has the author \"jna\" (did you mean \"jan\"?)"
        ),
        format!(
            "{file}:29:14: error: subscriber hook: secret_env MISCONFIG_SECRET: the secret is not \"whsec_<base64>\" or base64"
        ),
        format!(
            "{file}:7:1: warning: email: no unsubscribe_url, so mail goes out without any unsubscribe link"
        ),
    ] {
        assert!(
            run.stderr.contains(&expected),
            "missing {expected:?} in\n{}",
            run.stderr
        );
    }
    // Known tags and authors, in any case, are fine.
    assert!(!run.stderr.contains("\"Kubernetes\""), "{}", run.stderr);
}

#[test]
fn check_names_the_missing_smtp_url_and_a_login_variable_without_its_pair() {
    let blog = check_blog(
        "\n[email]\nfrom = \"noreply@example.org\"\ntransport = \"smtp\"\nusername_env = \"MISCONFIG_USER\"\n\
         unsubscribe_url = \"https://example.org/u?s={subscriber}&t={token}\"\n",
    );
    let run = check(&blog, &[("MISCONFIG_USER", "postbode")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let file = blog.toml().display().to_string();
    assert!(
        run.stderr.contains(&format!(
            "{file}:9:13: error: email: transport = \"smtp\" needs smtp_url"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "{file}:10:16: error: email: username_env without password_env"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn check_says_how_to_write_an_smtp_url_without_scheme_or_with_a_wrong_one() {
    for (url, expected) in [
        (
            "127.0.0.1:8025",
            ":10:12: email.smtp_url: \"127.0.0.1:8025\" has no scheme: write \"smtp://127.0.0.1:8025\"",
        ),
        (
            "smtpx://mail.example.org",
            ":10:12: email.smtp_url: \"smtpx://mail.example.org\": scheme smtpx: is not smtp: or smtps: (did you mean smtp://?)",
        ),
        (
            "smtps://mail.example.org?tls=required",
            "unknown option tls=required with smtps:",
        ),
        (
            "smtp://mail.example.org?tls=starttls",
            "unknown option tls=starttls (the only option is tls=required",
        ),
    ] {
        let blog = check_blog(&format!(
            "\n[email]\nfrom = \"noreply@example.org\"\ntransport = \"smtp\"\nsmtp_url = \"{url}\"\n"
        ));
        let run = check(&blog, &[]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains(expected),
            "{url}: missing {expected:?} in\n{}",
            run.stderr
        );
    }
}

#[test]
fn check_names_a_serve_secret_that_is_missing_or_short_and_serve_without_email() {
    // TestBlog's common lines take 5 lines; [serve] starts on line 7.
    let blog = check_blog(
        r#"
[serve]
public_url = "https://abonneren.example.org"
secret_env = "MISCONFIG_SERVE_SECRET"
allow_webhooks_api_token_env = "MISCONFIG_API_TOKEN"
"#,
    );
    let file = blog.toml().display().to_string();
    let run = check(&blog, &[("MISCONFIG_SERVE_SECRET", "too short")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for expected in [
        format!(
            "{file}:9:14: error: serve: the secret in MISCONFIG_SERVE_SECRET is 9 bytes; use at least 32"
        ),
        format!(
            "{file}:10:32: error: serve: allow_webhooks_api_token_env names MISCONFIG_API_TOKEN, which is not set"
        ),
        format!(
            "{file}:7:1: error: serve: sign-ups are confirmed by email, but there is no [email] section"
        ),
    ] {
        assert!(
            run.stderr.contains(&expected),
            "missing {expected:?} in\n{}",
            run.stderr
        );
    }
    let run = check(&blog, &[]);
    assert!(
        run.stderr
            .contains("serve: secret_env names MISCONFIG_SERVE_SECRET, which is not set"),
        "{}",
        run.stderr
    );
}
