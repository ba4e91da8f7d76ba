//! The SMTP sender against a real server (`tests/tools/smtp_server.py`,
//! aiosmtpd): STARTTLS and implicit TLS with a throwaway CA, the login,
//! refused recipients, a connection the server closed, a server that is not
//! there, and many messages over one connection; then the faults of
//! `docs/faults.md` (421, 451, 550, 552, a connection dropped before or
//! after the message, a server that never greets), scripted with the
//! server's `--fault`. Through the library's public API, with messages
//! built as `notify` builds them, and once through `postbode notify`.

use std::path::Path;
use std::time::Duration;

use lettre::Message;
use postbode::config::subscribers::{EmailConfig, EmailTransport, Language};
use postbode::notify::SendError;
use postbode::notify::email::{CA_FILE_ENV, Mailer, unsubscribe_token};

use crate::email::{build, config, payload, subscriber};
use crate::helpers::*;

/// The shared email fixtures' configuration, sending over SMTP to `url`.
fn smtp_config(outbox: &Path, url: String) -> EmailConfig {
    EmailConfig {
        smtp_url: Some(url),
        ..config(EmailTransport::Smtp, outbox)
    }
}

/// The SMTP login both TLS tests use, as `Mailer` reads it from the environment.
fn login_env(k: &str) -> Option<String> {
    match k {
        "SMTP_USER" => Some("postbode".to_string()),
        "SMTP_PASSWORD" => Some("s3cret".to_string()),
        _ => None,
    }
}

#[tokio::test]
async fn starttls_with_login_delivers_what_was_built() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(dir.path());
    let server = SmtpServer::start(
        Some(&dir.path().join("mail")),
        &[
            "--starttls",
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            "--auth",
            "postbode:s3cret",
        ],
    );
    let mut cfg = smtp_config(
        dir.path(),
        format!("smtp://localhost:{}?tls=required", server.port),
    );
    cfg.username_env = Some("SMTP_USER".into());
    cfg.password_env = Some("SMTP_PASSWORD".into());
    let mut mailer = Mailer::connect_with(&cfg, &login_env, Some(&ca))
        .await
        .unwrap();

    let alice = subscriber("alice", "alice@example.net", Language::Nl);
    let bob = subscriber("bob", "bob@example.net", Language::En);
    let mut blog = payload(1);
    blog.blog.title = "Développeurs – Overheid".into();
    let single = build(&cfg, &blog, &alice, "postbode.example.1@example.org");
    let digest = build(&cfg, &payload(2), &bob, "postbode.example.2@example.org");
    mailer.send(&single, "alice@example.net").await.unwrap();
    mailer.send(&digest, "bob@example.net").await.unwrap();
    mailer.close().await;

    let got = server.received();
    assert_eq!(got.len(), 2);
    let m = &got[0];
    assert_eq!(m["tls"], true);
    assert_eq!(m["authenticated"], true);
    assert_eq!(m["mail_from"], "noreply@Example.org");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["alice@example.net"]));
    assert_eq!(m["to"], "alice@example.net");
    assert_eq!(
        m["subject"],
        "Nieuw op Développeurs – Overheid: Café <API> & \"REST\" 1"
    );
    assert_eq!(m["message_id"], "<postbode.example.1@example.org>");
    assert_eq!(
        m["list_id"],
        "Développeurs – Overheid <example.postbode.example.org>"
    );
    let token = unsubscribe_token("example", "alice", "alice@example.net");
    assert_eq!(
        m["list_unsubscribe"],
        format!("<https://blog.example.org/afmelden?s=alice&t={token}>")
    );
    assert_eq!(m["list_unsubscribe_post"], "List-Unsubscribe=One-Click");
    assert_eq!(m["content_type"], "multipart/alternative");
    let text = m["text"].as_str().unwrap().replace("\r\n", "\n");
    assert!(text.contains("Datum: 14 juli 2025\n"), "{text}");
    assert!(text.contains("Één ding vooral."), "{text}");
    let html = m["html"].as_str().unwrap();
    assert!(
        html.contains("Lees „Café &lt;API&gt; &amp; &quot;REST&quot; 1”"),
        "{html}"
    );

    let m = &got[1];
    assert_eq!(m["rcpt_tos"], serde_json::json!(["bob@example.net"]));
    assert_eq!(m["subject"], "Developer Overheid: 2 new posts");
    assert_eq!(m["message_id"], "<postbode.example.2@example.org>");
    let text = m["text"].as_str().unwrap();
    assert!(text.contains("Café <API> & \"REST\" 2"), "{text}");
}

#[tokio::test]
async fn implicit_tls_delivers_and_an_unknown_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(dir.path());
    let server = SmtpServer::start(
        Some(&dir.path().join("mail")),
        &[
            "--tls",
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            "--auth",
            "postbode:s3cret",
        ],
    );
    let mut cfg = smtp_config(dir.path(), format!("smtps://127.0.0.1:{}", server.port));
    cfg.username_env = Some("SMTP_USER".into());
    cfg.password_env = Some("SMTP_PASSWORD".into());
    // Without our CA the server's certificate is not trusted.
    let Err(err) = Mailer::connect_with(&cfg, &login_env, None).await else {
        panic!("an unknown CA was trusted")
    };
    assert!(matches!(err, SendError::Transient { .. }), "{err}");

    let ca_env = |k: &str| match k {
        CA_FILE_ENV => Some(ca.display().to_string()),
        other => login_env(other),
    };
    let mut mailer = Mailer::connect(&cfg, &ca_env).await.unwrap();
    let sub = subscriber("alice", "alice@example.net", Language::Nl);
    let msg = build(&cfg, &payload(1), &sub, "postbode.example.9@example.org");
    mailer.send(&msg, "alice@example.net").await.unwrap();
    mailer.close().await;
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["tls"], true);
    assert_eq!(got[0]["authenticated"], true);
}

#[tokio::test]
async fn rejected_recipients_are_transient_for_4xx_and_permanent_for_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(
        Some(&dir.path().join("mail")),
        &[
            "--reject-rcpt",
            "full@example.net:452",
            "--reject-rcpt",
            "gone@example.net:550",
        ],
    );
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{}", server.port));
    let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
    let send = async |mailer: &mut Mailer, address: &str| {
        let sub = subscriber("x", address, Language::En);
        let msg = build(&cfg, &payload(1), &sub, &format!("id.{address}"));
        mailer.send(&msg, address).await
    };
    let full = send(&mut mailer, "full@example.net").await;
    assert!(
        matches!(&full, Err(SendError::Transient { reason, .. }) if reason.contains("452")),
        "{full:?}"
    );
    let gone = send(&mut mailer, "gone@example.net").await;
    assert!(
        matches!(&gone, Err(SendError::Permanent { reason }) if reason.contains("550")),
        "{gone:?}"
    );
    send(&mut mailer, "ok@example.net").await.unwrap();
    mailer.close().await;
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["rcpt_tos"], serde_json::json!(["ok@example.net"]));
    // The connection survives a refusal (RSET) and carries the next one:
    // the message came over the first connection the server accepted.
    assert_eq!(got[0]["connection"], 1, "{}", got[0]);
}

#[tokio::test]
async fn a_connection_the_server_closed_is_reopened_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(Some(&dir.path().join("mail")), &["--timeout", "0.3"]);
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{}", server.port));
    let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
    let sub = subscriber("alice", "alice@example.net", Language::Nl);
    let first = build(&cfg, &payload(1), &sub, "postbode.example.1@example.org");
    let second = build(&cfg, &payload(1), &sub, "postbode.example.2@example.org");
    mailer.send(&first, "alice@example.net").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    mailer.send(&second, "alice@example.net").await.unwrap();
    mailer.close().await;
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["connection"], 1);
    assert_eq!(
        got[1]["connection"], 2,
        "the second went over a new connection"
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{port}"));
    let Err(err) = Mailer::connect(&cfg, &|_| None).await else {
        panic!("connected to a closed port")
    };
    assert!(matches!(err, SendError::Transient { .. }), "{err}");
}

/// Not a speed test (those live in benches/): it prints the rate so a
/// regression of TCP_NODELAY (~23 messages/s) is easy to spot.
#[tokio::test]
async fn five_hundred_messages_share_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(None, &[]);
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{}", server.port));
    let sub = subscriber("alice", "alice@example.net", Language::Nl);
    let messages: Vec<Message> = (0..500)
        .map(|i| {
            build(
                &cfg,
                &payload(1),
                &sub,
                &format!("postbode.example.{i}@example.org"),
            )
        })
        .collect();
    let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
    let start = std::time::Instant::now();
    for msg in &messages {
        mailer.send(msg, "alice@example.net").await.unwrap();
    }
    let elapsed = start.elapsed();
    mailer.close().await;
    eprintln!(
        "SMTP: 500 messages over one connection in {:.2}s = {:.0} messages/s",
        elapsed.as_secs_f64(),
        500.0 / elapsed.as_secs_f64()
    );
}

// --- faults (docs/faults.md) ---------------------------------------------

/// A server saving what it accepts, with these `--fault`s.
fn faulty_server(dir: &Path, faults: &[&str]) -> SmtpServer {
    let args: Vec<&str> = faults.iter().flat_map(|f| ["--fault", f]).collect();
    SmtpServer::start(Some(&dir.join("mail")), &args)
}

/// Message `n` to alice, as `notify` builds it.
fn message(cfg: &EmailConfig, n: usize) -> Message {
    let sub = subscriber("alice", "alice@example.net", Language::Nl);
    build(
        cfg,
        &payload(1),
        &sub,
        &format!("postbode.fault.{n}@example.org"),
    )
}

fn transient_reason(result: Result<(), SendError>) -> String {
    match result {
        Err(SendError::Transient { reason, .. }) => reason,
        other => panic!("not a transient failure: {other:?}"),
    }
}

fn permanent_reason(result: Result<(), SendError>) -> String {
    match result {
        Err(SendError::Permanent { reason }) => reason,
        other => panic!("not a permanent failure: {other:?}"),
    }
}

#[tokio::test]
async fn a_421_is_transient_and_the_next_message_goes_over_a_new_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = faulty_server(dir.path(), &["mail:421:2"]);
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{}", server.port));
    let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
    // The 421 closes the connection; one more try on a new one gets 421 too.
    let reason = transient_reason(mailer.send(&message(&cfg, 1), "alice@example.net").await);
    assert!(
        reason.contains("MAIL FROM") && reason.contains("421"),
        "{reason}"
    );
    mailer
        .send(&message(&cfg, 2), "alice@example.net")
        .await
        .unwrap();
    mailer.close().await;
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["message_id"], "<postbode.fault.2@example.org>");
    assert_eq!(got[0]["connection"], 3, "{}", got[0]);
}

#[tokio::test]
async fn a_451_to_the_message_is_transient_and_the_connection_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = faulty_server(dir.path(), &["message:451:1"]);
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{}", server.port));
    let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
    let reason = transient_reason(mailer.send(&message(&cfg, 1), "alice@example.net").await);
    assert!(
        reason.starts_with(&format!("SMTP 127.0.0.1:{}: message: ", server.port))
            && reason.contains("451"),
        "{reason}"
    );
    mailer
        .send(&message(&cfg, 1), "alice@example.net")
        .await
        .unwrap();
    mailer.close().await;
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["connection"], 1, "{}", got[0]);
}

#[tokio::test]
async fn a_550_or_552_to_the_message_is_permanent_and_a_552_to_a_recipient_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    let server = faulty_server(
        dir.path(),
        &["rcpt:552:1", "message:552:1", "message:550:1"],
    );
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{}", server.port));
    let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
    let to = "alice@example.net";
    let reason = transient_reason(mailer.send(&message(&cfg, 1), to).await);
    assert!(
        reason.contains("RCPT TO") && reason.contains("552") && reason.contains("as 452"),
        "{reason}"
    );
    let reason = permanent_reason(mailer.send(&message(&cfg, 2), to).await);
    assert!(
        reason.contains("message: ") && reason.contains("552"),
        "{reason}"
    );
    let reason = permanent_reason(mailer.send(&message(&cfg, 3), to).await);
    assert!(
        reason.contains("message: ") && reason.contains("550"),
        "{reason}"
    );
    mailer.send(&message(&cfg, 4), to).await.unwrap();
    mailer.close().await;
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["message_id"], "<postbode.fault.4@example.org>");
    assert_eq!(got[0]["connection"], 1, "refusals keep the connection");
}

#[tokio::test]
async fn a_connection_dropped_before_the_message_is_tried_once_more_on_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = faulty_server(dir.path(), &["data:drop:3"]);
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{}", server.port));
    let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
    let to = "alice@example.net";
    // Dropped on the connection that was open, and on the new one.
    let reason = transient_reason(mailer.send(&message(&cfg, 1), to).await);
    assert!(reason.contains("DATA"), "{reason}");
    // A fresh connection that drops is not tried again at once.
    transient_reason(mailer.send(&message(&cfg, 1), to).await);
    mailer.send(&message(&cfg, 1), to).await.unwrap();
    mailer.close().await;
    let got = server.received();
    assert_eq!(got.len(), 1, "nothing was accepted twice");
    assert_eq!(got[0]["connection"], 4, "{}", got[0]);
}

#[tokio::test]
async fn a_connection_dropped_after_the_message_is_transient_and_the_resend_keeps_its_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = faulty_server(dir.path(), &["message:drop:1"]);
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{}", server.port));
    let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
    let reason = transient_reason(mailer.send(&message(&cfg, 1), "alice@example.net").await);
    assert!(
        reason.contains("message: ") && reason.contains("the server may have the message"),
        "{reason}"
    );
    // The server had it: not sent again on the spot, as that could
    // deliver it twice; a later attempt does, with the same Message-ID.
    assert_eq!(server.received().len(), 1);
    mailer
        .send(&message(&cfg, 1), "alice@example.net")
        .await
        .unwrap();
    mailer.close().await;
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["message_id"], got[1]["message_id"]);
    assert_eq!(got[1]["connection"], 2);
}

#[tokio::test]
async fn a_server_that_refuses_or_never_sends_its_greeting_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    let busy = faulty_server(dir.path(), &["greeting:421"]);
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{}", busy.port));
    let Err(err) = Mailer::connect(&cfg, &|_| None).await else {
        panic!("connected to a server that said 421");
    };
    let reason = transient_reason(Err(err));
    assert!(
        reason.contains("greeting") && reason.contains("421"),
        "{reason}"
    );

    // Silent: lettre's command timeout (30 s) ends the wait. Not a speed
    // goal; a bound so that a hang fails the test.
    let silent = faulty_server(dir.path(), &["greeting:silent"]);
    let cfg = smtp_config(dir.path(), format!("smtp://127.0.0.1:{}", silent.port));
    let started = std::time::Instant::now();
    let Err(err) = Mailer::connect(&cfg, &|_| None).await else {
        panic!("connected to a server that never greeted");
    };
    let reason = transient_reason(Err(err));
    assert!(reason.contains("greeting timed out"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(45));
}

#[tokio::test]
async fn starttls_to_a_certificate_of_an_unknown_ca_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = test_pki(dir.path());
    let server = SmtpServer::start(
        Some(&dir.path().join("mail")),
        &["--starttls", cert.to_str().unwrap(), key.to_str().unwrap()],
    );
    let cfg = smtp_config(
        dir.path(),
        format!("smtp://localhost:{}?tls=required", server.port),
    );
    let Err(err) = Mailer::connect_with(&cfg, &|_| None, None).await else {
        panic!("an unknown CA was trusted")
    };
    let reason = transient_reason(Err(err));
    assert!(
        reason.contains("STARTTLS") && reason.contains("UnknownIssuer"),
        "{reason}"
    );
    assert!(server.received().is_empty());
}

#[test]
fn a_mail_server_that_cannot_be_reached_is_not_tried_again_in_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = faulty_server(dir.path(), &["greeting:421"]);
    let subscribers: String = (1..=8)
        .map(|n| format!("\n[[subscribers]]\nid = \"s{n}\"\nemail = \"s{n}@example.org\"\n"))
        .collect();
    let blog = TestBlog::new(&format!(
        "state = \"state.db\"\n\n[email]\nfrom = \"noreply@example.org\"\n\
         transport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{}\"\n{subscribers}",
        server.port
    ));
    blog.write("2025-07-01-hallo.md", "---\ntitle: Hallo\n---\nTekst.\n");
    let run = blog.run(&[
        "--now",
        "2025-07-16T00:00:00Z",
        "notify",
        "--json",
        "--backfill",
        "2025-06-01",
    ]);
    // Due deliveries of which none could be sent: exit 1, so cron notices.
    assert_eq!(run.code, 1, "{}", run.stderr);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["sent"], 0, "{summary}");
    assert_eq!(summary["retrying"], 8, "{summary}");
    let status = blog.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let rows = status["deliveries"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 8, "{rows:?}");
    let errors: Vec<&str> = rows
        .iter()
        .inspect(|r| assert_eq!(r["status"], "retrying", "{r}"))
        .map(|r| r["last_error"].as_str().unwrap())
        .collect();
    let tried = errors
        .iter()
        .filter(|e| e.starts_with("cannot connect to the mail server") && e.contains("421"))
        .count();
    let skipped = errors
        .iter()
        .filter(|e| e.contains("could not be reached earlier in this run"))
        .count();
    // At most one try per connection slot (4); the rest wait for a later run.
    assert!((1..=4).contains(&tried), "{errors:#?}");
    assert_eq!(tried + skipped, 8, "{errors:#?}");
}

/// The table in `docs/faults.md` names the test behind each row: each of
/// them exists, so a renamed or removed test cannot leave a row unbacked.
#[test]
fn every_test_the_fault_matrix_names_exists() {
    let doc = std::fs::read_to_string(repo_dir().join("docs/faults.md")).unwrap();
    let mut named = 0;
    for cell in doc.split('`').skip(1).step_by(2) {
        let Some((module, name)) = cell.split_once("::") else {
            continue;
        };
        if !module.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        let source = std::fs::read_to_string(repo_dir().join(format!("tests/it/{module}.rs")))
            .unwrap_or_else(|e| panic!("docs/faults.md names {cell}: {e}"));
        assert!(
            source.contains(&format!("fn {name}(")),
            "docs/faults.md names {cell}, which does not exist"
        );
        named += 1;
    }
    assert!(named >= 25, "only {named} tests named");
}
