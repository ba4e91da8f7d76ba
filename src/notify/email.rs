//! Email notifications: one message per subscriber and delivery, built with
//! lettre from the `email/<language>/` templates, and the two ways to send
//! it: an outbox folder of `.eml` files (`transport = "file"`, for trying a
//! setup out and for tests) or SMTP over one reused connection.
//!
//! A message's `Message-ID` is derived from its outbox row, so a resend
//! after a crash carries the same id and a receiver (or the file outbox,
//! which names files after it) can drop the duplicate. Every message is a
//! list message: `List-Id`, and with an unsubscribe URL configured,
//! `List-Unsubscribe` plus RFC 8058 one-click unsubscribe.
//!
//! SMTP goes through lettre's connection type rather than its pooled
//! transport, because lettre 0.11 never sets `TCP_NODELAY`: a message is
//! written as two small writes (body, then `\r\n.\r\n`), and on a reused
//! connection Nagle's algorithm holds the second until the server's delayed
//! ACK, ~40 ms per message. We open the TCP stream ourselves, with
//! `TCP_NODELAY`, and hand it to lettre.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use lettre::address::Envelope;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::{Address, Message};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{Payload, SendError};
use crate::config::subscribers::{EmailConfig, EmailTransport, Subscriber};
use crate::templates::{TemplateError, Templates};

/// Environment variable naming a PEM file of extra CA certificates to trust
/// for SMTP, besides the platform's (a private relay with its own CA).
pub const CA_FILE_ENV: &str = "POSTBODE_SMTP_CA_FILE";

/// TCP connect and TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Each SMTP command, and the message body.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{field}: {value:?} is not an email address: {source}")]
    Address {
        field: &'static str,
        value: String,
        source: lettre::address::AddressError,
    },
    #[error("a message needs at least one post")]
    NoPosts,
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
}

/// The `Message-ID` (without angle brackets) of a delivery:
/// `postbode.<blog>.<delivery id>@<domain of from>`. Stable across retries,
/// so a receiver can drop a duplicate.
pub fn message_id(blog: &str, delivery_id: i64, from: &str) -> String {
    format!(
        "postbode.{}.{delivery_id}@{}",
        atom(blog),
        from_domain(from)
    )
}

/// The token in an unsubscribe URL: the first 32 hex digits of
/// SHA-256(`postbode-unsubscribe:<blog>:<subscriber>:<address>`). It lets
/// an unsubscribe endpoint tell a real link from a guessed subscriber id.
/// It is unkeyed: whoever knows the blog, the subscriber id and the address
/// can compute it, so it proves no more than knowing those three.
pub fn unsubscribe_token(blog: &str, subscriber: &str, address: &str) -> String {
    let digest = Sha256::digest(format!(
        "postbode-unsubscribe:{blog}:{subscriber}:{address}"
    ));
    let mut token = hex::encode(digest);
    token.truncate(32);
    token
}

/// `template` (the configured `unsubscribe_url`) with `{subscriber}` and
/// `{token}` filled in, percent-encoded.
pub fn unsubscribe_url(template: &str, blog: &str, subscriber: &str, address: &str) -> String {
    template
        .replace("{subscriber}", &percent_encode(subscriber))
        .replace("{token}", &unsubscribe_token(blog, subscriber, address))
}

/// Builds the message telling `subscriber` (at address `to`) about
/// `payload`: subject and both bodies from the subscriber's language's
/// templates, list headers, and the given `Message-ID` and `Date`.
pub fn build_message(
    cfg: &EmailConfig,
    templates: &Templates,
    payload: &Payload,
    to: &str,
    subscriber: &Subscriber,
    message_id: &str,
    date: DateTime<Utc>,
) -> Result<Message, EmailError> {
    if payload.posts.is_empty() {
        return Err(EmailError::NoPosts);
    }
    let from = mailbox("from", &cfg.from)?;
    let recipient = mailbox("to", to)?;
    let blog = &payload.blog;
    let unsubscribe = cfg
        .unsubscribe_url
        .as_deref()
        .map(|template| unsubscribe_url(template, &blog.name, &subscriber.id, to));
    let language = subscriber.language.code();
    let ctx = json!({
        "blog": blog,
        "posts": payload.posts,
        // A digest that happens to hold one post reads as a single post.
        "digest": payload.posts.len() > 1,
        "subscriber": { "id": subscriber.id },
        "unsubscribe_url": unsubscribe,
        "language": language,
    });
    let subject = one_line(&templates.render(&format!("email/{language}/subject.txt"), &ctx)?);
    let text = templates.render(&format!("email/{language}/body.txt"), &ctx)?;
    let html = templates.render(&format!("email/{language}/body.html"), &ctx)?;

    let mut builder = Message::builder()
        .from(from)
        .to(recipient)
        .subject(subject)
        .date(date.into())
        .message_id(Some(format!("<{message_id}>")))
        .header(ListId {
            title: blog.title.clone(),
            id: format!("{}.postbode.{}", atom(&blog.name), from_domain(&cfg.from)),
        })
        // RFC 3834: keeps vacation responders from answering a notification.
        .header(AutoSubmitted);
    if let Some(reply_to) = &cfg.reply_to {
        builder = builder.reply_to(mailbox("reply_to", reply_to)?);
    }
    if let Some(url) = unsubscribe {
        // RFC 8058 one-click needs an HTTPS URI to POST to; a mailto: link
        // gets the plain header only.
        let one_click = url.starts_with("https://");
        builder = builder.header(ListUnsubscribe(url));
        if one_click {
            builder = builder.header(ListUnsubscribePost);
        }
    }
    Ok(builder.multipart(MultiPart::alternative_plain_html(text, html))?)
}

fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, EmailError> {
    value.parse().map_err(|source| EmailError::Address {
        field,
        value: value.to_string(),
        source,
    })
}

/// A subject is one header line: template newlines and runs of spaces become
/// single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The domain of `from` (`Name <a@b.example>` or `a@b.example`), lowercase;
/// `localhost` if it has none.
fn from_domain(from: &str) -> String {
    match from.parse::<Mailbox>() {
        Ok(mailbox) => mailbox.email.domain().to_ascii_lowercase(),
        Err(_) => from
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('>').trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "localhost".to_string()),
    }
}

/// `name` as a dot-atom part of a `Message-ID` or `List-Id`.
fn atom(name: &str) -> String {
    let atom: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if atom.is_empty() {
        "blog".to_string()
    } else {
        atom
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `List-Id: "Blog title" <example.postbode.example.org>` (RFC 2919).
#[derive(Debug, Clone)]
struct ListId {
    title: String,
    id: String,
}

impl Header for ListId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Id")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        let (title, id) = s.rsplit_once('<').ok_or("List-Id without <id>")?;
        Ok(ListId {
            title: title.trim().trim_matches('"').to_string(),
            id: id.trim_end().trim_end_matches('>').to_string(),
        })
    }

    fn display(&self) -> HeaderValue {
        let title: String = self.title.chars().filter(|c| !c.is_control()).collect();
        let title = title.trim();
        let raw = format!("{title} <{}>", self.id);
        if title.is_empty() {
            HeaderValue::new(Self::name(), format!("<{}>", self.id))
        } else if title.is_ascii() {
            // A quoted string, so specials in the title (`:` `,` `<`) stay text.
            let quoted = title.replace('\\', "\\\\").replace('"', "\\\"");
            HeaderValue::new(Self::name(), format!("\"{quoted}\" <{}>", self.id))
        } else {
            // RFC 2047 encoded words cannot sit inside a quoted string, so
            // the whole phrase becomes encoded words, one per folded line:
            // 39 bytes make 52 base64 characters, so every line stays under
            // 78 characters (RFC 5322 §2.1.1), the first one included.
            let mut words = Vec::new();
            let mut chunk = String::new();
            for c in title.chars() {
                if chunk.len() + c.len_utf8() > 39 {
                    words.push(std::mem::take(&mut chunk));
                }
                chunk.push(c);
            }
            words.push(chunk);
            let encoded: Vec<String> = words
                .iter()
                .map(|w| {
                    format!(
                        "=?utf-8?b?{}?=",
                        base64::engine::general_purpose::STANDARD.encode(w)
                    )
                })
                .collect();
            let value = format!("{}\r\n <{}>", encoded.join("\r\n "), self.id);
            HeaderValue::dangerous_new_pre_encoded(Self::name(), raw, value)
        }
    }
}

/// `List-Unsubscribe: <url>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        Ok(ListUnsubscribe(
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .into(),
        ))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, BoxError> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834).
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, BoxError> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// Sends built messages: to the outbox folder, or over one SMTP connection
/// that is opened by `connect`, reused by every `send` and closed by `close`.
pub struct Mailer {
    inner: Inner,
}

enum Inner {
    File { dir: PathBuf },
    Smtp(Box<Smtp>),
}

impl Mailer {
    /// Opens the configured transport. Secrets are read through `env`
    /// (the SMTP login, and extra CAs from `POSTBODE_SMTP_CA_FILE`).
    pub async fn connect(
        cfg: &EmailConfig,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Mailer, SendError> {
        let ca = env(CA_FILE_ENV).map(PathBuf::from);
        Self::connect_with(cfg, env, ca.as_deref()).await
    }

    /// `connect`, trusting the CA certificates in the PEM file `extra_ca`
    /// besides the platform's.
    pub async fn connect_with(
        cfg: &EmailConfig,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        extra_ca: Option<&Path>,
    ) -> Result<Mailer, SendError> {
        let inner = match cfg.transport {
            EmailTransport::File => {
                tokio::fs::create_dir_all(&cfg.outbox).await.map_err(|e| {
                    transient(format!(
                        "{}: cannot create the outbox: {e}",
                        cfg.outbox.display()
                    ))
                })?;
                Inner::File {
                    dir: cfg.outbox.clone(),
                }
            }
            EmailTransport::Smtp => {
                let mut smtp = Smtp::new(cfg, env, extra_ca)?;
                smtp.conn = Some(smtp.open().await?);
                Inner::Smtp(Box::new(smtp))
            }
        };
        Ok(Mailer { inner })
    }

    /// Sends `msg` to `envelope_to` (SMTP `RCPT TO`; the file outbox keeps
    /// the message as built, named after its `Message-ID`).
    pub async fn send(&mut self, msg: &Message, envelope_to: &str) -> Result<(), SendError> {
        match &mut self.inner {
            Inner::File { dir } => write_eml(dir, msg).await,
            Inner::Smtp(smtp) => smtp.send(msg, envelope_to).await,
        }
    }

    /// Says goodbye to the SMTP server (`QUIT`); best effort.
    pub async fn close(self) {
        if let Inner::Smtp(mut smtp) = self.inner
            && let Some(mut conn) = smtp.conn.take()
        {
            let _ = tokio::time::timeout(COMMAND_TIMEOUT, conn.quit()).await;
        }
    }
}

fn transient(reason: String) -> SendError {
    SendError::Transient {
        reason,
        retry_after: None,
    }
}

fn permanent(reason: String) -> SendError {
    SendError::Permanent { reason }
}

/// Writes `<dir>/<Message-ID>.eml` through a temporary file in the same
/// folder, so a reader never sees half a message and a resend of the same
/// delivery replaces its file instead of adding one.
async fn write_eml(dir: &Path, msg: &Message) -> Result<(), SendError> {
    let id = msg
        .headers()
        .get_raw("Message-ID")
        .ok_or_else(|| permanent("the message has no Message-ID".into()))?;
    let path = dir.join(format!("{}.eml", file_name(id)));
    let bytes = msg.formatted();
    let target = path.clone();
    let dir = dir.to_path_buf();
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(&dir)?;
        file.write_all(&bytes)?;
        file.as_file().sync_data()?;
        file.persist(&target).map_err(|e| e.error)?;
        Ok(())
    })
    .await
    .map_err(|e| transient(format!("writing {}: {e}", path.display())))?;
    written.map_err(|e| transient(format!("writing {}: {e}", path.display())))
}

/// A `Message-ID` as a file name: without `<>`, anything unusual as `_`.
fn file_name(message_id: &str) -> String {
    message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtp://`: no TLS (a local relay).
    Plain,
    /// `smtp://…?tls=required`: STARTTLS, or no connection.
    StartTls,
    /// `smtps://`: TLS from the first byte (RFC 8314).
    Implicit,
}

struct Smtp {
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
        let extra_pem = match extra_ca {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                permanent(format!(
                    "{}: cannot read CA certificates: {e}",
                    path.display()
                ))
            })?),
            None => None,
        };
        let ca_error = |e: &dyn std::fmt::Display| {
            permanent(format!(
                "{}: not PEM CA certificates: {e}",
                extra_ca
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ))
        };
        let (starttls, implicit) = match security {
            Security::Plain => (None, None),
            Security::StartTls => {
                let mut builder = TlsParameters::builder(host.clone());
                if let Some(pem) = &extra_pem {
                    // Added to the platform verifier's roots, not instead.
                    let cert = Certificate::from_pem(pem).map_err(|e| ca_error(&e))?;
                    builder = builder.add_root_certificate(cert);
                }
                let params = builder
                    .build_rustls()
                    .map_err(|e| permanent(format!("email: TLS setup: {e}")))?;
                (Some(params), None)
            }
            Security::Implicit => {
                let extra: Vec<CertificateDer<'static>> = match &extra_pem {
                    Some(pem) => CertificateDer::pem_slice_iter(pem)
                        .collect::<Result<_, _>>()
                        .map_err(|e| ca_error(&e))?,
                    None => Vec::new(),
                };
                (None, Some(client_config(extra)?))
            }
        };
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
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
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

    async fn send(&mut self, msg: &Message, envelope_to: &str) -> Result<(), SendError> {
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
            .map_err(fail("RCPT TO", Stage::Envelope))?;
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

/// SMTP 5xx is permanent; 4xx, network trouble and timeouts are transient
/// (RFC 5321 §4.2.1). Only a reply leaves the connection usable, and not
/// 421, with which the server announces it is closing it.
fn classify(what: &str, stage: Stage, e: TimedError) -> Failure {
    match e {
        TimedError::Timeout => Failure {
            error: transient(format!(
                "{what}: no reply in {}s",
                COMMAND_TIMEOUT.as_secs()
            )),
            stage,
            lost: true,
        },
        TimedError::Smtp(e) => {
            let code = e.status().map(u16::from);
            let reason = format!("{what}: {e}");
            if e.is_permanent() || e.is_client() {
                Failure {
                    error: permanent(reason),
                    stage,
                    lost: false,
                }
            } else {
                Failure {
                    error: transient(reason),
                    stage,
                    lost: !e.is_transient() || code == Some(421),
                }
            }
        }
    }
}

/// `smtp://host[:port][?tls=required]` or `smtps://host[:port]`.
fn parse_smtp_url(text: &str) -> Result<(String, u16, Security), String> {
    let url = url::Url::parse(text).map_err(|e| format!("email: smtp_url {text:?}: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "email: smtp_url must not hold a login; use username_env and password_env".into(),
        );
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("email: smtp_url {text:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let mut security = match url.scheme() {
        "smtp" => Security::Plain,
        "smtps" => Security::Implicit,
        other => {
            return Err(format!(
                "email: smtp_url scheme {other}: is not smtp: or smtps:"
            ));
        }
    };
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref(), security) {
            ("tls", "required", Security::Plain) => security = Security::StartTls,
            _ => {
                return Err(format!(
                    "email: smtp_url {text:?}: unknown option {key}={value} \
                     (only tls=required, with smtp:)"
                ));
            }
        }
    }
    if !matches!(url.path(), "" | "/") {
        return Err(format!("email: smtp_url {text:?} has a path"));
    }
    let port = url.port().unwrap_or(match security {
        Security::Plain => 25,
        Security::StartTls => 587,
        Security::Implicit => 465,
    });
    Ok((host, port, security))
}

/// rustls for implicit TLS, with the same trust as lettre's STARTTLS: the
/// platform verifier plus `extra` roots.
fn client_config(
    extra: Vec<CertificateDer<'static>>,
) -> Result<Arc<rustls::ClientConfig>, SendError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, Arc::clone(&provider))
            .map_err(|e| permanent(format!("email: TLS setup: {e}")))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| permanent(format!("email: TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TLS stream lettre can use as if it were its own (its trait is foreign,
/// so tokio-rustls's stream needs a local wrapper).
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    //! Building messages and the file outbox. Sending over SMTP to a real
    //! server is tested in `tests/it/smtp.rs`.

    use chrono::TimeZone as _;
    use mail_parser::MessageParser;

    use super::*;
    use crate::config::subscribers::{Digest, Filter, Language, Target};
    use crate::notify::{BlogInfo, PostSnapshot, TagSnapshot};

    const UNSUBSCRIBE: &str = "https://blog.example.org/afmelden?s={subscriber}&t={token}";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 7, 15, 8, 0, 0).unwrap()
    }

    fn config(transport: EmailTransport, outbox: &Path) -> EmailConfig {
        EmailConfig {
            from: "Developer Overheid <noreply@Example.org>".into(),
            transport,
            smtp_url: None,
            username_env: None,
            password_env: None,
            outbox: outbox.to_path_buf(),
            reply_to: Some("redactie@example.org".into()),
            unsubscribe_url: Some(UNSUBSCRIBE.into()),
        }
    }

    fn post(n: u32) -> PostSnapshot {
        PostSnapshot {
            title: format!("Café <API> & \"REST\" {n}"),
            url: format!("https://blog.example.org/blog/post-{n}"),
            summary: Some(format!("Waarom we overstappen, deel {n}. Één ding vooral.")),
            date: Utc.with_ymd_and_hms(2025, 7, 14, 9, 30, 0).unwrap(),
            tags: vec![
                TagSnapshot {
                    key: "api".into(),
                    label: "API".into(),
                    url: "https://blog.example.org/blog/tags/api".into(),
                },
                TagSnapshot {
                    key: "rest".into(),
                    label: "REST".into(),
                    url: "https://blog.example.org/blog/tags/rest".into(),
                },
            ],
            authors: vec!["Ada Lovelace".into(), "Bob".into(), "Chris".into()],
            image: Some(format!("https://blog.example.org/img/{n}.png")),
        }
    }

    fn payload(posts: u32) -> Payload {
        Payload {
            blog: BlogInfo {
                name: "example".into(),
                title: "Developer Overheid".into(),
                url: "https://blog.example.org/blog".into(),
                feed_url: "https://blog.example.org/feeds/atom.xml".into(),
            },
            posts: (1..=posts).map(post).collect(),
        }
    }

    fn subscriber(id: &str, address: &str, language: Language) -> Subscriber {
        Subscriber {
            id: id.into(),
            target: Target::Email {
                address: address.into(),
            },
            filter: Filter::default(),
            digest: Digest::None,
            language,
        }
    }

    fn build(cfg: &EmailConfig, payload: &Payload, sub: &Subscriber, id: &str) -> Message {
        let Target::Email { address } = &sub.target else {
            unreachable!()
        };
        let templates = Templates::load(None).unwrap();
        build_message(cfg, &templates, payload, address, sub, id, now()).unwrap()
    }

    /// The message as a receiver parses it (independent parser), and its
    /// text and HTML parts with plain newlines.
    fn parsed(raw: &[u8]) -> (mail_parser::Message<'_>, String, String) {
        let message = MessageParser::default().parse(raw).unwrap();
        let text = message.body_text(0).unwrap().replace("\r\n", "\n");
        let html = message.body_html(0).unwrap().replace("\r\n", "\n");
        (message, text, html)
    }

    #[test]
    fn a_dutch_message_has_list_headers_and_both_parts() {
        let cfg = config(EmailTransport::File, Path::new("/unused"));
        let sub = subscriber("alice", "alice@example.net", Language::Nl);
        let id = message_id("example", 42, &cfg.from);
        assert_eq!(id, "postbode.example.42@example.org");
        let raw = build(&cfg, &payload(1), &sub, &id).formatted();
        let (m, text, html) = parsed(&raw);

        assert_eq!(
            m.subject(),
            Some("Nieuw op Developer Overheid: Café <API> & \"REST\" 1")
        );
        let from = m.from().unwrap().first().unwrap();
        assert_eq!(from.name(), Some("Developer Overheid"));
        assert_eq!(from.address(), Some("noreply@Example.org"));
        assert_eq!(
            m.to().unwrap().first().unwrap().address(),
            Some("alice@example.net")
        );
        assert_eq!(
            m.reply_to().unwrap().first().unwrap().address(),
            Some("redactie@example.org")
        );
        assert_eq!(m.message_id(), Some(id.as_str()));
        assert_eq!(m.date().unwrap().to_timestamp(), now().timestamp());
        assert_eq!(
            m.header_raw("List-Id").unwrap().trim(),
            "\"Developer Overheid\" <example.postbode.example.org>"
        );
        let token = unsubscribe_token("example", "alice", "alice@example.net");
        assert_eq!(token.len(), 32);
        let url = format!("https://blog.example.org/afmelden?s=alice&t={token}");
        assert_eq!(
            m.header_raw("List-Unsubscribe").unwrap().trim(),
            format!("<{url}>")
        );
        assert_eq!(
            m.header_raw("List-Unsubscribe-Post").unwrap().trim(),
            "List-Unsubscribe=One-Click"
        );
        assert_eq!(
            m.header_raw("Auto-Submitted").unwrap().trim(),
            "auto-generated"
        );

        for needle in [
            "Nieuw op Developer Overheid:\n\nCafé <API> & \"REST\" 1\n",
            "Datum: 14 juli 2025\n",
            "Door: Ada Lovelace, Bob en Chris\n",
            "Tags: API, REST\n",
            "\nWaarom we overstappen, deel 1. Één ding vooral.\n",
            "Lees verder: https://blog.example.org/blog/post-1\n",
            "\n-- \nJe krijgt deze e-mail omdat",
            &format!("Afmelden: {url}\n"),
            "Liever een feedreader? https://blog.example.org/feeds/atom.xml\n",
        ] {
            assert!(text.contains(needle), "{needle:?} missing in\n{text}");
        }
        assert!(!text.contains("\n\n\n"), "runs of blank lines in\n{text}");
        for needle in [
            "<html lang=\"nl\">",
            "<h1 style=",
            "<a href=\"https://blog.example.org/blog/post-1\" style=\"color:#0645ad;\">Café &lt;API&gt; &amp; &quot;REST&quot; 1</a></h1>",
            "<time datetime=\"2025-07-14T09:30:00Z\">14 juli 2025</time> · door Ada Lovelace, Bob en Chris",
            "<a href=\"https://blog.example.org/blog/tags/rest\" style=\"color:#0645ad;\">REST</a>",
            "Lees „Café &lt;API&gt; &amp; &quot;REST&quot; 1”",
            &format!(
                "<a href=\"{}\" style=\"color:#0645ad;\">Afmelden</a>",
                url.replace('&', "&amp;")
            ),
        ] {
            assert!(html.contains(needle), "{needle:?} missing in\n{html}");
        }
        assert!(!html.contains("<script") && !html.contains("<table"));
    }

    #[test]
    fn an_english_message_speaks_english() {
        let cfg = config(EmailTransport::File, Path::new("/unused"));
        let sub = subscriber("bob", "bob@example.net", Language::En);
        let raw = build(&cfg, &payload(1), &sub, "x.1@example.org").formatted();
        let (m, text, html) = parsed(&raw);
        assert_eq!(
            m.subject(),
            Some("New on Developer Overheid: Café <API> & \"REST\" 1")
        );
        for needle in [
            "Date: 14 July 2025\n",
            "By: Ada Lovelace, Bob and Chris\n",
            "Read more: https://blog.example.org/blog/post-1\n",
            "Unsubscribe: https://blog.example.org/afmelden?s=bob&t=",
        ] {
            assert!(text.contains(needle), "{needle:?} missing in\n{text}");
        }
        for needle in [
            "<html lang=\"en\">",
            "14 July 2025</time> · by Ada Lovelace, Bob and Chris",
            "Read “Café &lt;API&gt; &amp; &quot;REST&quot; 1”",
            "\">Unsubscribe</a>",
        ] {
            assert!(html.contains(needle), "{needle:?} missing in\n{html}");
        }
    }

    #[test]
    fn a_digest_lists_every_post_under_one_subject() {
        let cfg = config(EmailTransport::File, Path::new("/unused"));
        for (language, subject, intro) in [
            (
                Language::Nl,
                "Developer Overheid: 2 nieuwe berichten",
                "2 nieuwe berichten op Developer Overheid:\n",
            ),
            (
                Language::En,
                "Developer Overheid: 2 new posts",
                "2 new posts on Developer Overheid:\n",
            ),
        ] {
            let sub = subscriber("carol", "carol@example.net", language);
            let raw = build(&cfg, &payload(2), &sub, "x.2@example.org").formatted();
            let (m, text, html) = parsed(&raw);
            assert_eq!(m.subject(), Some(subject));
            assert!(text.starts_with(intro), "{text}");
            for n in [1, 2] {
                assert!(text.contains(&format!("\nCafé <API> & \"REST\" {n}\n")));
                assert!(text.contains(&format!("https://blog.example.org/blog/post-{n}\n")));
                assert!(html.contains(&format!("href=\"https://blog.example.org/blog/post-{n}\"")));
            }
            assert_eq!(html.matches("<h2 ").count(), 2, "{html}");
            assert_eq!(html.matches("<h1 ").count(), 1, "{html}");
        }
    }

    #[test]
    fn without_an_unsubscribe_url_there_are_no_unsubscribe_headers_or_links() {
        let mut cfg = config(EmailTransport::File, Path::new("/unused"));
        cfg.unsubscribe_url = None;
        cfg.reply_to = None;
        let sub = subscriber("dave", "dave@example.net", Language::Nl);
        let raw = build(&cfg, &payload(1), &sub, "x.3@example.org").formatted();
        let (m, text, html) = parsed(&raw);
        assert!(m.header_raw("List-Unsubscribe").is_none());
        assert!(m.header_raw("List-Unsubscribe-Post").is_none());
        assert!(m.header_raw("Reply-To").is_none());
        assert!(!text.contains("Afmelden") && !html.contains("Afmelden"));
    }

    #[test]
    fn a_mailto_unsubscribe_gets_no_one_click_header() {
        let mut cfg = config(EmailTransport::File, Path::new("/unused"));
        cfg.unsubscribe_url = Some("mailto:leave@example.org?subject={subscriber}".into());
        let sub = subscriber("erin x/y", "erin@example.net", Language::Nl);
        let raw = build(&cfg, &payload(1), &sub, "x.4@example.org").formatted();
        let (m, _, _) = parsed(&raw);
        assert_eq!(
            m.header_raw("List-Unsubscribe").unwrap().trim(),
            "<mailto:leave@example.org?subject=erin%20x%2Fy>"
        );
        assert!(m.header_raw("List-Unsubscribe-Post").is_none());
    }

    #[test]
    fn a_blog_title_with_accents_or_quotes_survives_in_list_id() {
        for title in [
            "Blog \"quoted\", with: specials",
            "Één blog – ünïcode, and a very long title that needs more than one encoded word",
        ] {
            let header = ListId {
                title: title.into(),
                id: "example.postbode.example.org".into(),
            };
            let mut headers = lettre::message::header::Headers::new();
            headers.set(header);
            let raw = format!("{headers}Subject: x\r\n\r\nbody\r\n");
            let m = MessageParser::default().parse(raw.as_bytes()).unwrap();
            let list = m.list_id().as_address().and_then(|a| a.first());
            assert_eq!(list.and_then(|a| a.name()), Some(title), "{raw}");
            assert_eq!(
                list.and_then(|a| a.address()),
                Some("example.postbode.example.org"),
                "{raw}"
            );
            assert!(raw.lines().all(|l| l.len() <= 78), "{raw}");
        }
    }

    #[test]
    fn a_message_without_posts_or_with_a_bad_address_is_an_error() {
        let cfg = config(EmailTransport::File, Path::new("/unused"));
        let sub = subscriber("f", "f@example.net", Language::Nl);
        let templates = Templates::load(None).unwrap();
        let none = build_message(
            &cfg,
            &templates,
            &payload(0),
            "f@example.net",
            &sub,
            "i@x",
            now(),
        );
        assert!(matches!(none, Err(EmailError::NoPosts)));
        let bad = build_message(
            &cfg,
            &templates,
            &payload(1),
            "not an address",
            &sub,
            "i@x",
            now(),
        );
        assert!(
            matches!(&bad, Err(EmailError::Address { field: "to", .. })),
            "{bad:?}"
        );
    }

    #[test]
    fn message_ids_and_tokens_are_stable_and_safe() {
        assert_eq!(
            message_id("my blog", 7, "noreply@example.org"),
            "postbode.my-blog.7@example.org"
        );
        assert_eq!(message_id("b", 1, "nobody"), "postbode.b.1@localhost");
        assert_eq!(
            unsubscribe_token("b", "s", "a@x"),
            unsubscribe_token("b", "s", "a@x")
        );
        assert_ne!(
            unsubscribe_token("b", "s", "a@x"),
            unsubscribe_token("b", "s", "b@x")
        );
        assert_eq!(file_name("<postbode.b.1@x.org>"), "postbode.b.1@x.org");
        assert_eq!(file_name("<../../etc/passwd>"), ".._.._etc_passwd");
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

    #[tokio::test]
    async fn a_password_is_never_sent_unencrypted_to_another_host() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(EmailTransport::Smtp, dir.path());
        cfg.smtp_url = Some("smtp://mail.example.org:25".into());
        cfg.username_env = Some("U".into());
        cfg.password_env = Some("P".into());
        let env = |k: &str| Some(format!("value of {k}"));
        let Err(err) = Mailer::connect(&cfg, &env).await else {
            panic!("connected")
        };
        assert!(matches!(&err, SendError::Permanent { reason } if reason.contains("unencrypted")));
        cfg.password_env = Some("UNSET".into());
        cfg.smtp_url = Some("smtps://mail.example.org".into());
        let env = |k: &str| (k == "U").then(|| "user".to_string());
        let Err(err) = Mailer::connect(&cfg, &env).await else {
            panic!("connected")
        };
        assert!(err.to_string().contains("UNSET"), "{err}");
    }

    #[tokio::test]
    async fn the_file_outbox_keeps_one_eml_per_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let cfg = config(EmailTransport::File, &outbox);
        let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
        let sub = subscriber("alice", "alice@example.net", Language::Nl);
        let first = build(&cfg, &payload(1), &sub, "postbode.example.1@example.org");
        let second = build(&cfg, &payload(2), &sub, "postbode.example.2@example.org");
        mailer.send(&first, "alice@example.net").await.unwrap();
        mailer.send(&second, "alice@example.net").await.unwrap();
        // A resend after a crash: same id, same file.
        mailer.send(&first, "alice@example.net").await.unwrap();
        mailer.close().await;

        let mut names: Vec<String> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "postbode.example.1@example.org.eml",
                "postbode.example.2@example.org.eml"
            ]
        );
        let saved = std::fs::read(outbox.join(&names[0])).unwrap();
        assert_eq!(saved, first.formatted());
        let (m, _, _) = parsed(&saved);
        assert_eq!(m.message_id(), Some("postbode.example.1@example.org"));
    }
}
