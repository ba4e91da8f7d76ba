//! The SMTP sender against a real server (`tests/tools/smtp_server.py`,
//! aiosmtpd): STARTTLS and implicit TLS with a throwaway CA, the login,
//! refused recipients, a connection the server closed, a server that is not
//! there, and many messages over one connection. Through the library's
//! public API, with messages built as `notify` builds them.

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
