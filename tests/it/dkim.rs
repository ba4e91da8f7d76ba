//! DKIM signatures as a receiving mail server checks them: messages signed
//! with an Ed25519 key made for the test and sent over real SMTP, and with
//! an RSA-2048 key into the file outbox, verified by dkimpy
//! (`tests/tools/dkim_verify.py`, an independent implementation) against the
//! public key as DNS would publish it; the same message with its Subject
//! changed after signing fails. And what `check` and `notify` say about DKIM
//! settings that cannot sign.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use postbode::config::dkim::{DkimKeySource, DkimSettings};
use postbode::config::subscribers::{EmailConfig, EmailTransport, Language};
use postbode::notify::email::Mailer;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};

use crate::email::{build, config, payload, subscriber};
use crate::helpers::*;

/// Where receivers look the key up for `s=postbode; d=example.org`.
const RECORD: &str = "postbode._domainkey.example.org";

/// Every header a reader sees or list handling acts on.
const MUST_BE_SIGNED: [&str; 11] = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
    "precedence",
];

fn signing(key: DkimKeySource) -> Option<DkimSettings> {
    Some(DkimSettings {
        selector: "postbode".into(),
        domain: "example.org".into(),
        key,
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// dkimpy's verdict on the message in `file`, with `txt` as the DNS record.
fn verify(file: &Path, txt: &str) -> serde_json::Value {
    let out = Command::new(python())
        .arg(repo_dir().join("tests/tools/dkim_verify.py"))
        .args(["--record", RECORD, txt])
        .arg(file)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "dkim_verify.py: {e}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The message in `file` with its Subject changed after signing, as a
/// relay that tampers with it would.
fn tampered(file: &Path) -> PathBuf {
    let raw = std::fs::read_to_string(file).unwrap();
    let changed = raw.replacen("\r\nSubject: ", "\r\nSubject: Re: ", 1);
    assert_ne!(raw, changed, "no Subject in {raw}");
    let path = file.with_extension("tampered");
    std::fs::write(&path, changed).unwrap();
    path
}

fn assert_verifies(file: &Path, txt: &str, algorithm: &str) {
    let got = verify(file, txt);
    assert_eq!(got["verified"], true, "{got}");
    assert_eq!(got["a"], algorithm, "{got}");
    assert_eq!(got["d"], "example.org", "{got}");
    assert_eq!(got["s"], "postbode", "{got}");
    for header in MUST_BE_SIGNED {
        assert!(
            got["h"].as_array().unwrap().iter().any(|h| h == header),
            "{header} is not signed: {got}"
        );
    }
    let changed = verify(&tampered(file), txt);
    assert_eq!(changed["verified"], false, "{changed}");
}

#[tokio::test]
async fn mail_signed_with_ed25519_over_smtp_verifies_until_its_subject_is_changed() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let key_file = dir.path().join("dkim.pem");
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let txt = format!("v=DKIM1; k=ed25519; p={}", b64(key.public_key_raw()));
    let server = SmtpServer::start(Some(&dir.path().join("mail")), &[]);
    let cfg = EmailConfig {
        smtp_url: Some(format!("smtp://127.0.0.1:{}", server.port)),
        dkim: signing(DkimKeySource::File(key_file)),
        ..config(EmailTransport::Smtp, dir.path())
    };
    let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
    let alice = subscriber("alice", "alice@example.net", Language::Nl);
    let msg = build(&cfg, &payload(2), &alice, "postbode.example.1@example.org");
    mailer.send(&msg, "alice@example.net").await.unwrap();
    mailer.close().await;
    assert_eq!(server.received().len(), 1);

    let saved = dir.path().join("mail/1.eml");
    assert_verifies(&saved, &txt, "ed25519-sha256");
    // Another key published under the selector: the signature is not its.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let wrong = verify(
        &saved,
        &format!("v=DKIM1; k=ed25519; p={}", b64(other.public_key_raw())),
    );
    assert_eq!(wrong["verified"], false, "{wrong}");
}

#[tokio::test]
async fn mail_signed_with_an_rsa_key_from_the_environment_verifies_in_the_file_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let pem =
        std::fs::read_to_string(repo_dir().join("tests/data/dkim/rsa-2048-test-only.pem")).unwrap();
    let public = rsa::RsaPrivateKey::from_pkcs8_pem(&pem)
        .unwrap()
        .to_public_key()
        .to_public_key_der()
        .unwrap();
    let txt = format!("v=DKIM1; k=rsa; p={}", b64(public.as_bytes()));
    let cfg = EmailConfig {
        dkim: signing(DkimKeySource::Env("TEST_DKIM_KEY".into())),
        unsubscribe_url: Some("https://blog.example.org/u?s={subscriber}&t={token}".into()),
        ..config(EmailTransport::File, &outbox)
    };
    let env = |k: &str| (k == "TEST_DKIM_KEY").then(|| pem.clone());
    let mut mailer = Mailer::connect(&cfg, &env).await.unwrap();
    let bob = subscriber("bob", "bob@example.net", Language::En);
    let msg = build(&cfg, &payload(1), &bob, "postbode.example.7@example.org");
    mailer.send(&msg, "bob@example.net").await.unwrap();
    mailer.close().await;

    assert_verifies(
        &outbox.join("postbode.example.7@example.org.eml"),
        &txt,
        "rsa-sha256",
    );
}

#[tokio::test]
async fn a_dkim_key_that_cannot_sign_stops_the_mailer_before_it_sends() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EmailConfig {
        dkim: signing(DkimKeySource::Env("TEST_DKIM_KEY".into())),
        ..config(EmailTransport::File, &dir.path().join("outbox"))
    };
    let not_pem = |_: &str| Some("ssh-ed25519 AAAAC3Nza".to_string());
    let Err(err) = Mailer::connect(&cfg, &not_pem).await else {
        panic!("connected with a key that is no PEM")
    };
    assert!(
        err.to_string()
            .contains("TEST_DKIM_KEY: not a PEM key; expected a PEM private key"),
        "{err}"
    );
}

/// A blog with one post and one email subscriber, its `[email]` with these
/// extra lines from line 12 on.
fn dkim_blog(email_extra: &str) -> TestBlog {
    let blog = TestBlog::new(&format!(
        "state = \"state.db\"\n\n[email]\nfrom = \"noreply@example.org\"\n\
         outbox = \"outbox\"\n\
         unsubscribe_url = \"https://example.org/u?s={{subscriber}}&t={{token}}\"\n{email_extra}\n\
         [[subscribers]]\nid = \"ann\"\nemail = \"ann@example.org\"\n"
    ));
    blog.write("2025-07-01-hallo.md", "---\ntitle: Hallo\n---\nTekst.\n");
    blog
}

fn check(blog: &TestBlog, env: &[(&str, &str)]) -> Run {
    let run = blog.run_with_env(&["--now", "2025-07-16T00:00:00Z", "check"], env);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

#[test]
fn check_names_the_line_of_a_dkim_key_that_cannot_sign_and_says_why() {
    let blog = dkim_blog(
        "dkim_selector = \"postbode\"\ndkim_domain = \"example.net\"\ndkim_key_file = \"dkim.pem\"\n",
    );
    let file = blog.toml().display().to_string();
    let key = blog.path().join("dkim.pem").display().to_string();
    let cases = [
        (None, "cannot read the DKIM key"),
        (
            Some("ssh-ed25519 AAAAC3Nza"),
            "not a PEM key; expected a PEM private key",
        ),
        (
            Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            "a PEM \"CERTIFICATE\"",
        ),
    ];
    for (content, reason) in cases {
        if let Some(text) = content {
            std::fs::write(blog.path().join("dkim.pem"), text).unwrap();
        }
        let run = check(&blog, &[]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let expected = format!("{file}:14:17: error: email: dkim_key_file: {key}: {reason}");
        assert!(run.stderr.contains(&expected), "{expected}\n{}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "{file}:13:15: warning: email: dkim_domain example.net is not the domain of from (example.org)"
            )),
            "{}",
            run.stderr
        );
    }

    // From the environment: unset, then a usable key.
    let blog = dkim_blog(
        "dkim_selector = \"postbode\"\ndkim_domain = \"example.org\"\ndkim_key_env = \"TEST_DKIM_UNSET\"\n",
    );
    let run = check(&blog, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{}:14:16: error: email: dkim_key_env: TEST_DKIM_UNSET (the DKIM key) is not set",
            blog.toml().display()
        )),
        "{}",
        run.stderr
    );
    let pem =
        std::fs::read_to_string(repo_dir().join("tests/data/dkim/rsa-2048-test-only.pem")).unwrap();
    let run = check(&blog, &[("TEST_DKIM_UNSET", &pem)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn dkim_keys_that_contradict_each_other_are_errors_at_their_line() {
    let cases = [
        (
            "dkim_selector = \"postbode\"\ndkim_key_file = \"dkim.pem\"\n",
            ":12:17: email.dkim_selector: dkim_domain is missing",
        ),
        (
            "dkim_domain = \"example.org\"\ndkim_key_env = \"K\"\n",
            ":12:15: email.dkim_domain: dkim_selector is missing",
        ),
        (
            "dkim_selector = \"postbode\"\ndkim_domain = \"example.org\"\n",
            ":12:17: email.dkim_selector: no private key",
        ),
        (
            "dkim_selector = \"postbode\"\ndkim_domain = \"example.org\"\ndkim_key_file = \"k.pem\"\ndkim_key_env = \"K\"\n",
            ":15:16: email.dkim_key_env: dkim_key_file is set too",
        ),
        (
            "dkim_key_file = \"k.pem\"\n",
            ":12:17: email: a DKIM key without dkim_selector and dkim_domain",
        ),
        (
            "dkim_selector = \"my selector\"\n",
            ":12:17: email.dkim_selector: \"my selector\" is not a DKIM selector",
        ),
    ];
    for (extra, expected) in cases {
        let blog = dkim_blog(extra);
        let run = check(&blog, &[]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        let expected = format!("{}{expected}", blog.toml().display());
        assert!(run.stderr.contains(&expected), "{expected}\n{}", run.stderr);
    }
}

#[test]
fn a_run_whose_dkim_key_cannot_sign_sends_nothing_exits_2_and_keeps_the_mail() {
    let blog = dkim_blog(
        "dkim_selector = \"postbode\"\ndkim_domain = \"example.org\"\ndkim_key_env = \"TEST_DKIM_KEY\"\n",
    );
    let notify = |env: &[(&str, &str)], now: &str| {
        let run = blog.run_with_env(&["--now", now, "notify", "--backfill", "2025-06-01"], env);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        run
    };
    let run = notify(&[], "2025-07-16T00:00:00Z");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("TEST_DKIM_KEY"), "{}", run.stderr);
    assert!(!blog.path().join("outbox").exists() || outbox_files(&blog).is_empty());

    let pem =
        std::fs::read_to_string(repo_dir().join("tests/data/dkim/rsa-2048-test-only.pem")).unwrap();
    let run = notify(&[("TEST_DKIM_KEY", &pem)], "2025-07-17T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let files = outbox_files(&blog);
    assert_eq!(files.len(), 1);
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=postbode;"));
}

fn outbox_files(blog: &TestBlog) -> Vec<PathBuf> {
    std::fs::read_dir(blog.path().join("outbox"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}
