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
