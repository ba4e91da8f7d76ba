//! What protects every page and form: security headers and a time limit on
//! every response, CSRF tokens (short-lived signed tokens bound to one form,
//! no cookies), the `Origin`/`Sec-Fetch-Site` check of form posts, and the
//! client address the rate limit counts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::config::ServeConfig;
use crate::token::{Claims, Purpose, Signer};

/// How long a request may take, body included: a slow client holds a
/// connection and a task, never more than this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a form may stay open in a browser before it must be reloaded.
const FORM_LIFETIME: chrono::Duration = chrono::Duration::hours(4);

/// The policy of a response that sets none (the pages set their own, with
/// their stylesheet's hash): nothing may load, nothing may frame it.
const DEFAULT_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Middleware for the whole service: the time limit (408 after
/// [`REQUEST_TIMEOUT`]) and the security headers on every response, 404s
/// and errors included.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timeout").into_response(),
    };
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(DEFAULT_CSP));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A CSRF token for form `form` (`subscribe`, `confirm:serve:7`, ...).
pub fn csrf_token(signer: &Signer, form: &str, now: DateTime<Utc>) -> String {
    signer.sign(&Claims {
        purpose: Purpose::Form,
        subscriber: form.to_string(),
        key: 0,
        expires: Some(now + FORM_LIFETIME),
    })
}

/// Whether `token` is a live CSRF token of form `form`.
pub fn csrf_ok(signer: &Signer, token: Option<&str>, form: &str, now: DateTime<Utc>) -> bool {
    token
        .and_then(|t| signer.verify(t, Purpose::Form, now).ok())
        .is_some_and(|claims| claims.subscriber == form)
}

/// Whether a form post may come from this browser context: refused when
/// `Sec-Fetch-Site` says cross-site or `Origin` names another origin than
/// `public_url`'s. `Origin: null` says nothing: browsers send it for our
/// own forms too, since the pages ask for `Referrer-Policy: no-referrer`
/// (Fetch standard, "append a request Origin header").
pub fn same_origin(headers: &HeaderMap, serve: &ServeConfig) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match text("origin") {
        None | Some("null") => true,
        Some(origin) => origin.eq_ignore_ascii_case(&serve.origin()),
    }
}

/// The peer address of the connection, when the server recorded it
/// (`into_make_service_with_connect_info`); unknown peers share one address.
pub struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Peer, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(Peer(ip))
    }
}

/// The client the rate limit counts: the peer, or with
/// `trust_forwarded_for`, the last address in `X-Forwarded-For` (the one
/// the proxy in front appended; earlier ones the client may have written).
pub fn client(peer: IpAddr, headers: &HeaderMap, serve: &ServeConfig) -> IpAddr {
    if !serve.trust_forwarded_for {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(trust: bool) -> ServeConfig {
        ServeConfig {
            public_url: "https://example.org/abonneren".into(),
            secret_env: "S".into(),
            webhooks_api_token_env: None,
            trust_forwarded_for: trust,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_site_posts_are_refused_and_our_own_pass() {
        let s = serve(false);
        for (pairs, ok) in [
            (&[][..], true),
            (&[("origin", "https://example.org")][..], true),
            (
                &[("origin", "null"), ("sec-fetch-site", "same-origin")][..],
                true,
            ),
            (&[("sec-fetch-site", "none")][..], true),
            (&[("origin", "https://evil.example")][..], false),
            (&[("origin", "http://example.org")][..], false),
            (&[("sec-fetch-site", "cross-site")][..], false),
            (&[("sec-fetch-site", "same-site")][..], false),
        ] {
            assert_eq!(same_origin(&headers(pairs), &s), ok, "{pairs:?}");
        }
    }

    #[test]
    fn a_csrf_token_fits_one_form_for_a_few_hours() {
        let signer = Signer::new(b"secret", "blog");
        let now = Utc::now();
        let token = csrf_token(&signer, "subscribe", now);
        assert!(csrf_ok(&signer, Some(&token), "subscribe", now));
        assert!(!csrf_ok(&signer, Some(&token), "confirm:serve:1", now));
        assert!(!csrf_ok(
            &signer,
            Some(&token),
            "subscribe",
            now + chrono::Duration::hours(5)
        ));
        assert!(!csrf_ok(&signer, None, "subscribe", now));
        assert!(!csrf_ok(&signer, Some("forged.token"), "subscribe", now));
    }

    #[test]
    fn forwarded_for_counts_only_when_trusted_and_only_its_last_address() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 5.6.7.8")]);
        assert_eq!(client(peer, &h, &serve(false)), peer);
        assert_eq!(
            client(peer, &h, &serve(true)),
            "5.6.7.8".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client(peer, &HeaderMap::new(), &serve(true)), peer);
    }
}
