//! The HTTP client that POSTs prepared webhook requests over a shared
//! connection pool, and what an answer means for the retry policy: 2xx is
//! sent; 408, 429, 5xx and network trouble are worth retrying (honouring
//! `Retry-After`); 410 means the receiver is gone; the rest is permanent.
//! No error it returns shows more of a URL than `scheme://host/…`.
//!
//! Redirects are followed here, not by reqwest, because only two keep what
//! a webhook is: 307 and 308 repeat the POST with its body (RFC 9110
//! §15.4.8, §15.4.9), while a client may turn a 301 or 302 into a GET and a
//! 303 asks for one — a body-less GET that answers 2xx would count as a
//! delivery nobody received. So 307/308 are followed, at most
//! [`MAX_REDIRECTS`] hops, and only to https (or plain http between loopback
//! addresses, as a local receiver needs); anything else is a permanent
//! failure that names the status and where it pointed (`scheme://host/…`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{PreparedRequest, WebhookError, display_url};
use crate::config::subscribers::is_loopback;
use crate::diag::error_chain;
use crate::net::USER_AGENT;
use crate::notify::SendError;

/// How much of a failed response's body an error message quotes.
const BODY_IN_ERROR: usize = 200;
/// How much of any response body is read (so the connection can be reused);
/// the rest is dropped with the connection.
const BODY_READ_LIMIT: usize = 64 * 1024;
/// Redirects followed for one delivery at most, whatever a caller asks for.
pub const MAX_REDIRECTS: usize = 3;

/// `host:port` of a webhook URL, so a caller can bound how many requests go
/// to one receiver at once. Not secret: no path, no query.
pub fn host_key(url: &SecretString) -> String {
    match url::Url::parse(url.expose_secret()) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => "(no host)".into(),
        },
        Err(_) => "(invalid URL)".into(),
    }
}

/// Sends prepared webhook requests over a shared connection pool.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    timeout: Duration,
    max_redirects: usize,
}

impl WebhookClient {
    /// `timeout` bounds a whole delivery, redirects included (connecting at
    /// most 10 s of it); up to `max_redirects` 307/308 redirects are
    /// followed, never more than [`MAX_REDIRECTS`] (0 follows none: a 3xx
    /// is then a permanent failure).
    pub fn new(timeout: Duration, max_redirects: usize) -> Result<Self, WebhookError> {
        crate::net::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // Followed by `send`, by the rules in the module docs.
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| WebhookError::Client(error_chain(&e.without_url())))?;
        Ok(WebhookClient {
            http,
            timeout,
            max_redirects: max_redirects.min(MAX_REDIRECTS),
        })
    }

    /// POSTs `req`. 2xx is success; 408, 429, 5xx and network trouble are
    /// worth retrying (honouring `Retry-After`); 410 means the receiver is
    /// gone; any other answer, and a redirect that is not followed, is
    /// permanent. Errors never contain the URL beyond `scheme://host/…`.
    pub async fn send(&self, req: &PreparedRequest) -> Result<(), SendError> {
        self.send_at(req, Utc::now()).await
    }

    /// `send`, reading a `Retry-After` date against `now` (the run's clock:
    /// `--now` when given) rather than the real clock.
    pub async fn send_at(
        &self,
        req: &PreparedRequest,
        now: DateTime<Utc>,
    ) -> Result<(), SendError> {
        let mut url = url::Url::parse(&req.url).map_err(|_| SendError::Permanent {
            reason: "the webhook URL is not a valid URL".into(),
        })?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut hops = 0;
        loop {
            let shown = display_url(url.as_str());
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let mut builder = self.http.post(url.clone()).timeout(left);
            for (name, value) in &req.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let mut response = match builder.body(req.body.clone()).send().await {
                Ok(r) => r,
                Err(e) => return Err(self.transport_error(e, &shown, &req.url)),
            };
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now));
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|v| url.join(v));
            let body = read_bounded(&mut response).await;
            if status.is_success() {
                return Ok(());
            }
            if status.is_redirection() && self.max_redirects > 0 {
                let status_text = format!("HTTP {status} from {shown}");
                let target = match location {
                    Some(Ok(target)) => target,
                    _ => {
                        return Err(SendError::Permanent {
                            reason: scrub(
                                format!("{status_text}: a redirect without a valid Location"),
                                &req.url,
                                &shown,
                            ),
                        });
                    }
                };
                let refused = |why: String| SendError::Permanent {
                    reason: scrub(
                        format!(
                            "{status_text}: redirect to {} not followed: {why}",
                            display_url(target.as_str())
                        ),
                        &req.url,
                        &shown,
                    ),
                };
                if !matches!(status.as_u16(), 307 | 308) {
                    return Err(refused(
                        "only 307 and 308 keep the POST and its body; \
                         update the webhook URL"
                            .into(),
                    ));
                }
                if let Err(why) = may_follow(&url, &target) {
                    return Err(refused(why.into()));
                }
                if hops >= self.max_redirects {
                    return Err(refused(format!(
                        "at most {} redirects are followed",
                        self.max_redirects
                    )));
                }
                hops += 1;
                url = target;
                continue;
            }
            let mut reason = format!("HTTP {status} from {shown}");
            let snippet = body_snippet(&body);
            if !snippet.is_empty() {
                reason.push_str(": ");
                reason.push_str(&snippet);
            }
            let reason = scrub(reason, &req.url, &shown);
            return Err(classify(status.as_u16(), reason, retry_after));
        }
    }

    fn transport_error(&self, e: reqwest::Error, shown: &str, url: &str) -> SendError {
        let what = if e.is_timeout() {
            format!("timed out after {:?}", self.timeout)
        } else if e.is_connect() {
            "cannot connect".into()
        } else {
            "request failed".into()
        };
        let permanent = e.is_builder();
        let reason = scrub(
            format!("POST {shown}: {what}: {}", error_chain(&e.without_url())),
            url,
            shown,
        );
        if permanent {
            SendError::Permanent { reason }
        } else {
            SendError::Transient {
                reason,
                retry_after: None,
            }
        }
    }
}

/// Reads up to `BODY_READ_LIMIT` bytes of a response body, so the connection
/// can go back to the pool and a refusal can be quoted; a longer (or
/// endless) body is not read further: it goes with the connection.
async fn read_bounded(response: &mut reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < BODY_READ_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body
}

/// Whether a redirect from `from` may be followed to `to`: https anywhere;
/// plain http only from one loopback address to another (a local receiver
/// in tests), so a message never leaves the machine unencrypted because a
/// receiver said so.
fn may_follow(from: &url::Url, to: &url::Url) -> Result<(), &'static str> {
    match to.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(from) && is_loopback(to) => Ok(()),
        "http" => Err("plain http is only followed between loopback addresses"),
        _ => Err("only https is followed"),
    }
}

/// What an HTTP status means for the retry policy.
pub(super) fn classify(status: u16, reason: String, retry_after: Option<Duration>) -> SendError {
    match status {
        408 | 429 | 500..=599 => SendError::Transient {
            reason,
            retry_after,
        },
        410 => SendError::Gone { reason },
        _ => SendError::Permanent { reason },
    }
}

/// `Retry-After` as delta-seconds (Discord sends fractions) or an HTTP date
/// (RFC 9110 §10.2.3); a date in the past means now.
pub(super) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    // IMF-fixdate, and the obsolete RFC 850 and asctime forms RFC 9110
    // still asks a recipient to accept.
    let date: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

/// Up to `BODY_IN_ERROR` characters of a response body, on one line.
fn body_snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let words: Vec<&str> = text.split_whitespace().collect();
    let line = words.join(" ");
    match line.char_indices().nth(BODY_IN_ERROR) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// Takes the URL (and its path and query) out of a message, should a
/// receiver's body or an error from below echo it.
fn scrub(mut text: String, url: &str, shown: &str) -> String {
    if !url.is_empty() && text.contains(url) {
        text = text.replace(url, shown);
    }
    if let Ok(u) = url::Url::parse(url) {
        let full = u.as_str();
        if text.contains(full) {
            text = text.replace(full, shown);
        }
        let rest = &u[url::Position::BeforePath..];
        if rest.len() > 1 && text.contains(rest) {
            text = text.replace(rest, "/…");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap();
        for (value, expected) in [
            ("7", Some(Duration::from_secs(7))),
            (" 120 ", Some(Duration::from_secs(120))),
            ("1.5", Some(Duration::from_millis(1500))),
            (
                "Wed, 21 Oct 2015 07:29:30 GMT",
                Some(Duration::from_secs(90)),
            ),
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(Duration::ZERO)),
            ("-3", None),
            ("soon", None),
        ] {
            assert_eq!(parse_retry_after(value, now), expected, "{value}");
        }
    }

    #[test]
    fn redirects_go_to_https_or_between_loopback_addresses_only() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        for (from, to, ok) in [
            ("https://a.example/h", "https://b.example/h", true),
            ("http://127.0.0.1:1/h", "https://b.example/h", true),
            ("http://127.0.0.1:1/h", "http://127.0.0.1:2/h", true),
            ("http://localhost:1/h", "http://[::1]:2/h", true),
            ("http://127.0.0.1:1/h", "http://b.example/h", false),
            ("https://a.example/h", "http://127.0.0.1/h", false),
            ("https://a.example/h", "http://a.example/h", false),
            ("http://a.example/h", "http://a.example/other", false),
            ("https://a.example/h", "ftp://a.example/h", false),
        ] {
            assert_eq!(
                may_follow(&url(from), &url(to)).is_ok(),
                ok,
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn statuses_are_classified_for_the_retry_policy() {
        for (status, kind) in [
            (408, "transient"),
            (429, "transient"),
            (500, "transient"),
            (502, "transient"),
            (503, "transient"),
            (400, "permanent"),
            (401, "permanent"),
            (404, "permanent"),
            (301, "permanent"),
            (410, "gone"),
        ] {
            let got = match classify(status, String::new(), None) {
                SendError::Transient { .. } => "transient",
                SendError::Permanent { .. } => "permanent",
                SendError::Gone { .. } => "gone",
            };
            assert_eq!(got, kind, "{status}");
        }
    }
}
