//! Sending over SMTP on one connection, opened once and reused for every
//! message until the server closes it (the dispatcher keeps a few of these
//! side by side). It goes through lettre's connection type rather than its
//! pooled transport, because lettre 0.11 never sets `TCP_NODELAY`: a message
//! is written as two small writes (body, then `\r\n.\r\n`), and on a
//! reused connection Nagle's algorithm holds the second until the server's
//! delayed ACK, ~40 ms per message. We open the TCP stream ourselves, with
//! `TCP_NODELAY`, and hand it to lettre.
//!
//! SMTP 5xx replies are permanent failures, 4xx and network trouble are
//! transient (RFC 5321 §4.2.1); a password never goes unencrypted to another
//! host.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lettre::Address;
use lettre::Message;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use rustls::pki_types::ServerName;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;

use super::tls::{self, TlsTcp};
use super::{permanent, transient};
use crate::config::subscribers::EmailConfig;
use crate::notify::SendError;

/// TCP connect and TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Each SMTP command, and the message body.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection is secured, as `smtp_url` says (read by the feed
/// definition, so `check` and sending agree).
pub(super) use crate::config::email::SmtpSecurity as Security;
use crate::config::email::parse_smtp_url;

pub(super) struct Smtp {
    host: String,
    port: u16,
    login: Option<(String, SecretString)>,
    /// For `STARTTLS`, which lettre performs on its own connection.
    starttls: Option<TlsParameters>,
    /// For implicit TLS, which we set up before lettre reads the greeting.
    implicit: Option<Arc<rustls::ClientConfig>>,
    hello: ClientId,
    conn: Option<AsyncSmtpConnection>,
}

/// Where a transaction failed, for deciding whether to try once more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// `MAIL`, `RCPT` or `DATA`: the server has accepted nothing yet.
    Envelope,
    /// The message itself: the server may have it even if we saw no reply.
    Body,
}

struct Failure {
    error: SendError,
    stage: Stage,
    /// The connection is unusable (network error, timeout, 421).
    lost: bool,
}

impl Smtp {
    /// A connection to the configured server, greeted, encrypted and logged
    /// in. Secrets are read through `env`.
    pub(super) async fn connect(
        cfg: &EmailConfig,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        extra_ca: Option<&Path>,
    ) -> Result<Smtp, SendError> {
        let mut smtp = Smtp::new(cfg, env, extra_ca)?;
        smtp.conn = Some(smtp.open().await?);
        Ok(smtp)
    }

    /// Says goodbye to the server (`QUIT`); best effort.
    pub(super) async fn quit(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = tokio::time::timeout(COMMAND_TIMEOUT, conn.quit()).await;
        }
    }

    fn new(
        cfg: &EmailConfig,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        extra_ca: Option<&Path>,
    ) -> Result<Smtp, SendError> {
        let url = cfg
            .smtp_url
            .as_deref()
            .ok_or_else(|| permanent("email: transport = \"smtp\" needs smtp_url".into()))?;
        let (host, port, security) = parse_smtp_url(url).map_err(permanent)?;
        let login = match (&cfg.username_env, &cfg.password_env) {
            (None, None) => None,
            (Some(user_var), Some(pass_var)) => {
                let read = |var: &str| {
                    env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                        permanent(format!("email: {var} (for the SMTP login) is not set"))
                    })
                };
                Some((read(user_var)?, SecretString::from(read(pass_var)?)))
            }
            _ => {
                return Err(permanent(
                    "email: username_env and password_env go together".into(),
                ));
            }
        };
        let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
        if login.is_some() && security == Security::Plain && !loopback {
            return Err(permanent(format!(
                "email: refusing to send the SMTP password to {host} unencrypted; \
                 use smtps:// or ?tls=required"
            )));
        }
        let (starttls, implicit) = tls::setup(security, &host, extra_ca)?;
        Ok(Smtp {
            host,
            port,
            login,
            starttls,
            implicit,
            hello: ClientId::default(),
            conn: None,
        })
    }

    fn describe(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A fresh, greeted, encrypted (as configured) and logged-in connection.
    async fn open(&self) -> Result<AsyncSmtpConnection, SendError> {
        let server = self.describe();
        let addrs: Vec<std::net::SocketAddr> = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::lookup_host((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| transient(format!("SMTP {server}: looking up the host timed out")))?
        .map_err(|e| unresolved(&server, &e))?
        .collect();
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addrs[..]))
            .await
            .map_err(|_| transient(format!("SMTP {server}: connecting timed out")))?
            .map_err(|e| transient(format!("SMTP {server}: cannot connect: {e}")))?;
        // The point of opening the stream ourselves: see the module docs.
        tcp.set_nodelay(true)
            .map_err(|e| transient(format!("SMTP {server}: TCP_NODELAY: {e}")))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit {
            Some(config) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| permanent(format!("SMTP {server}: not a TLS server name: {e}")))?;
                let tls = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    tokio_rustls::TlsConnector::from(Arc::clone(config)).connect(name, tcp),
                )
                .await
                .map_err(|_| transient(format!("SMTP {server}: TLS handshake timed out")))?
                .map_err(|e| transient(format!("SMTP {server}: TLS: {e}")))?;
                Box::new(TlsTcp(tls))
            }
            None => Box::new(tcp),
        };
        let step = |what: &'static str| {
            let server = server.clone();
            move |e: TimedError| -> SendError {
                match e {
                    TimedError::Timeout => transient(format!("SMTP {server}: {what} timed out")),
                    TimedError::Smtp(e) => {
                        let reason = format!("SMTP {server}: {what}: {e}");
                        if e.is_permanent() || e.is_client() {
                            permanent(reason)
                        } else {
                            transient(reason)
                        }
                    }
                }
            }
        };
        let mut conn = timed(AsyncSmtpConnection::connect_with_transport(
            stream,
            &self.hello,
        ))
        .await
        .map_err(step("greeting"))?;
        if let Some(params) = &self.starttls {
            if !conn.can_starttls() {
                return Err(transient(format!(
                    "SMTP {server}: the server does not offer STARTTLS (tls=required)"
                )));
            }
            timed(conn.starttls(params.clone(), &self.hello))
                .await
                .map_err(step("STARTTLS"))?;
        }
        if let Some((user, password)) = &self.login {
            let credentials = Credentials::new(user.clone(), password.expose_secret().to_string());
            timed(conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials))
                .await
                .map_err(step("login"))?;
        }
        Ok(conn)
    }

    pub(super) async fn send(&mut self, msg: &Message, envelope_to: &str) -> Result<(), SendError> {
        let to: Address = envelope_to
            .parse()
            .map_err(|e| permanent(format!("{envelope_to:?} is not an email address: {e}")))?;
        let envelope = Envelope::new(msg.envelope().from().cloned(), vec![to])
            .map_err(|e| permanent(format!("envelope: {e}")))?;
        let body = msg.formatted();

        let (mut conn, reused) = match self.conn.take() {
            Some(conn) if !conn.has_broken() => (conn, true),
            _ => (self.open().await?, false),
        };
        let mut result = transaction(&mut conn, &envelope, &body).await;
        if let Err(failure) = &result
            && failure.lost
            && failure.stage == Stage::Envelope
            && reused
        {
            // The server may have closed a connection that sat idle. Nothing
            // was accepted yet, so one try on a fresh connection cannot
            // deliver the message twice.
            conn = self.open().await?;
            result = transaction(&mut conn, &envelope, &body).await;
        }
        match result {
            Ok(()) => {
                self.conn = Some(conn);
                Ok(())
            }
            Err(failure) => {
                if !failure.lost && timed(conn.command(Rset)).await.is_ok() && !conn.has_broken() {
                    self.conn = Some(conn);
                }
                Err(match failure.error {
                    SendError::Transient { reason, .. } => {
                        transient(format!("SMTP {}: {reason}", self.describe()))
                    }
                    SendError::Permanent { reason } => {
                        permanent(format!("SMTP {}: {reason}", self.describe()))
                    }
                    other => other,
                })
            }
        }
    }
}

/// A host name the resolver does not know is permanent: the configuration
/// names a host that does not exist, and trying again will not help. A
/// resolver that could not answer (`EAI_AGAIN`: "Temporary failure in name
/// resolution", or no network) is transient.
fn unresolved(server: &str, e: &std::io::Error) -> SendError {
    let text = e.to_string();
    let unknown = [
        "not known",
        "No address associated",
        "nodename nor servname",
    ];
    if unknown.iter().any(|u| text.contains(u)) {
        permanent(format!(
            "SMTP {server}: unknown host ({text}); check the host in smtp_url"
        ))
    } else {
        transient(format!("SMTP {server}: cannot look up the host: {text}"))
    }
}

/// One mail transaction: `MAIL FROM`, `RCPT TO`, `DATA`, the message.
async fn transaction(
    conn: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    body: &[u8],
) -> Result<(), Failure> {
    let mut params = Vec::new();
    let server = conn.server_info();
    if !body.is_ascii() {
        if !server.supports_feature(Extension::EightBitMime) {
            return Err(Failure {
                error: permanent("8-bit message but the server lacks 8BITMIME".into()),
                stage: Stage::Envelope,
                lost: false,
            });
        }
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let non_ascii = envelope
        .to()
        .iter()
        .chain(envelope.from())
        .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
    if non_ascii {
        if !server.supports_feature(Extension::SmtpUtfEight) {
            return Err(Failure {
                error: permanent("non-ASCII address but the server lacks SMTPUTF8".into()),
                stage: Stage::Envelope,
                lost: false,
            });
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    let fail = |what: &'static str, stage: Stage| {
        move |e: TimedError| -> Failure { classify(what, stage, e) }
    };
    timed(conn.command(Mail::new(envelope.from().cloned(), params)))
        .await
        .map_err(fail("MAIL FROM", Stage::Envelope))?;
    for to in envelope.to() {
        timed(conn.command(Rcpt::new(to.clone(), vec![])))
            .await
            .map_err(fail(RCPT, Stage::Envelope))?;
    }
    timed(conn.command(Data))
        .await
        .map_err(fail("DATA", Stage::Envelope))?;
    timed(conn.message(body))
        .await
        .map_err(fail("message", Stage::Body))?;
    Ok(())
}

enum TimedError {
    Timeout,
    Smtp(lettre::transport::smtp::Error),
}

async fn timed<T>(
    f: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, TimedError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Err(_) => Err(TimedError::Timeout),
        Ok(result) => result.map_err(TimedError::Smtp),
    }
}

/// The name of the `RCPT TO` step in errors (and for `classify`).
const RCPT: &str = "RCPT TO";

/// SMTP 5xx is permanent (but see 552 to `RCPT`); 4xx, network trouble and
/// timeouts are transient (RFC 5321 §4.2.1). Only a reply leaves the connection usable, and not
/// 421, with which the server announces it is closing it.
fn classify(what: &str, stage: Stage, e: TimedError) -> Failure {
    // Without the final reply nobody knows whether the server took it.
    let maybe_sent = |reason: String| match stage {
        Stage::Body => format!(
            "{reason} (the server may have the message; \
             it is sent again later with the same Message-ID)"
        ),
        Stage::Envelope => reason,
    };
    match e {
        TimedError::Timeout => Failure {
            error: transient(maybe_sent(format!(
                "{what}: no reply in {}s",
                COMMAND_TIMEOUT.as_secs()
            ))),
            stage,
            lost: true,
        },
        TimedError::Smtp(e) => {
            let code = e.status().map(u16::from);
            let reason = format!("{what}: {e}");
            // RFC 5321 §4.5.3.1.10: clients treat a 552 to RCPT as a 452
            // (a full mailbox or too many recipients: try again later).
            if what == RCPT && code == Some(552) {
                return Failure {
                    error: transient(format!("{reason} (taken as 452, RFC 5321 §4.5.3.1.10)")),
                    stage,
                    lost: false,
                };
            }
            if e.is_permanent() || e.is_client() {
                Failure {
                    error: permanent(reason),
                    stage,
                    lost: false,
                }
            } else if e.is_transient() {
                Failure {
                    error: transient(reason),
                    stage,
                    lost: code == Some(421),
                }
            } else {
                Failure {
                    error: transient(maybe_sent(reason)),
                    stage,
                    lost: true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_host_is_permanent_and_a_resolver_that_cannot_answer_is_transient() {
        let io = |text: &str| std::io::Error::other(text.to_string());
        let unknown = unresolved(
            "x.invalid:25",
            &io("failed to lookup address information: Name or service not known"),
        );
        assert!(
            matches!(unknown, SendError::Permanent { .. }),
            "{unknown:?}"
        );
        assert!(unknown.to_string().contains("check the host in smtp_url"));
        let again = unresolved(
            "x.example:25",
            &io("failed to lookup address information: Temporary failure in name resolution"),
        );
        assert!(matches!(again, SendError::Transient { .. }), "{again:?}");
    }

    #[test]
    fn smtp_urls_name_host_port_and_tls() {
        for (url, expected) in [
            (
                "smtp://mail.example.org",
                Ok(("mail.example.org", 25, Security::Plain)),
            ),
            (
                "smtp://127.0.0.1:2525",
                Ok(("127.0.0.1", 2525, Security::Plain)),
            ),
            (
                "smtp://mail.example.org?tls=required",
                Ok(("mail.example.org", 587, Security::StartTls)),
            ),
            ("smtps://[::1]", Ok(("::1", 465, Security::Implicit))),
            ("smtp://u:p@mail.example.org", Err("must not hold a login")),
            (
                "smtps://mail.example.org?tls=required",
                Err("unknown option"),
            ),
            ("http://mail.example.org", Err("not smtp: or smtps:")),
        ] {
            let got = parse_smtp_url(url);
            match (got, expected) {
                (Ok((h, p, s)), Ok((eh, ep, es))) => assert_eq!((h.as_str(), p, s), (eh, ep, es)),
                (Err(e), Err(needle)) => assert!(e.contains(needle), "{url}: {e}"),
                (got, expected) => panic!("{url}: {got:?} vs {expected:?}"),
            }
        }
    }
}
