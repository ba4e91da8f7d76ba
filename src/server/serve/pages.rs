//! The subscription pages: sign up (double opt-in), confirm, manage, leave
//! (RFC 8058 one-click). Opening a link never changes anything (mail
//! scanners fetch links); every change is a POST from a page's form, which
//! carries a CSRF token bound to that form and must come from the site's
//! own origin, except the one-click POST, which RFC 8058 sends without
//! either and which the signed token in its URL authorises.
//!
//! The sign-up form answers the same page whether the address is new,
//! pending or subscribed, and never waits for a mail: nobody learns from
//! it who is subscribed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::forms::{self, FieldError, Filled, FormData};
use super::mail::{self, Kind};
use super::ratelimit::Limiter;
use super::security::{self, Peer};
use super::view::requested;
use super::{Site, Sites};
use crate::config::subscribers::Language;
use crate::state::StateError;
use crate::state::subscriptions::{Confirmed, Requested, Subscription, subscription_id};
use crate::token::{Claims, Purpose, TokenError};

/// The largest request body accepted; the forms need a fraction of it.
pub const MAX_BODY: usize = 16 * 1024;

/// Sign-up requests per client address per hour.
pub const SIGNUPS_PER_HOUR: u32 = 10;

/// At most one mail per address per this long, however often it is typed in.
const QUIET: chrono::Duration = chrono::Duration::minutes(10);

/// Sign-ups never confirmed are erased after this long.
pub const UNCONFIRMED_FOR: chrono::Duration = chrono::Duration::days(7);

pub fn routes() -> Router<Sites> {
    let limiter = Arc::new(Limiter::new(SIGNUPS_PER_HOUR, Duration::from_secs(3600)));
    Router::new()
        .route("/{blog}/subscribe", get(subscribe_form).post(subscribe))
        .route("/{blog}/confirm/{token}", get(confirm_form).post(confirm))
        .route("/{blog}/manage/{token}", get(manage_form).post(manage))
        .route(
            "/{blog}/unsubscribe/{token}",
            get(unsubscribe_form).post(unsubscribe),
        )
        .layer(Extension(limiter))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// Erases every site's sign-ups older than [`UNCONFIRMED_FOR`], hourly.
pub async fn purge_every_hour(sites: Sites) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        purge(&sites, Utc::now()).await;
    }
}

/// Erases every site's sign-ups requested before `now - UNCONFIRMED_FOR`.
pub async fn purge(sites: &Sites, now: DateTime<Utc>) {
    for (blog, site) in sites.0.iter() {
        match site
            .store
            .purge_unconfirmed(blog, now - UNCONFIRMED_FOR)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(blog = %blog, erased = n, "unconfirmed sign-ups erased"),
            Err(e) => tracing::warn!(blog = %blog, "erasing unconfirmed sign-ups: {e}"),
        }
    }
}

/// A blog's page being answered: the site and the page's language.
struct Page {
    site: Arc<Site>,
    language: Language,
}

impl Page {
    /// The page of blog `blog`, if it is served.
    fn find(sites: &Sites, blog: &str, uri: &Uri) -> Option<Page> {
        let site = sites.0.get(blog).cloned()?;
        let language = site.pages.language(uri.query());
        Some(Page { site, language })
    }

    /// Speaks the subscriber's own language, unless the page was asked for
    /// in another (`?lang=`).
    fn adopt(&mut self, subscription: &Subscription, uri: &Uri) {
        if requested(uri.query()).is_none()
            && let Some(language) = Language::from_code(&subscription.choices.language)
        {
            self.language = language;
        }
    }

    /// The subscription a token names (`Ok(None)`: gone, or a subscriber
    /// of the feed definition), read once per request; the page then
    /// speaks its language.
    async fn look_up(&mut self, subscriber: &str, uri: &Uri) -> Found {
        let Some(id) = subscription_id(subscriber) else {
            return Ok(None);
        };
        let found = self
            .site
            .store
            .subscription(&self.site.config.name, id)
            .await;
        if let Ok(Some(s)) = &found {
            self.adopt(s, uri);
        }
        found
    }

    /// The URL of page `rest` of this blog, in this page's language.
    fn url(&self, rest: &str) -> String {
        format!(
            "{}?lang={}",
            self.site.serve.page(&self.site.config.name, rest),
            self.language.code()
        )
    }

    fn render(&self, status: StatusCode, name: &str, mut ctx: Value) -> Response {
        if let Value::Object(map) = &mut ctx {
            map.insert("subscribe_url".into(), self.url("subscribe").into());
        }
        self.site.pages.page(status, self.language, name, ctx)
    }

    /// The page that says what went wrong (`problem` is a code the
    /// template turns into words).
    fn problem(&self, status: StatusCode, problem: &str) -> Response {
        self.render(status, "problem", json!({ "problem": problem }))
    }

    fn token_problem(&self, error: TokenError) -> Response {
        match error {
            TokenError::Expired => self.problem(StatusCode::GONE, "expired_link"),
            TokenError::Invalid | TokenError::WrongPurpose => {
                self.problem(StatusCode::BAD_REQUEST, "invalid_link")
            }
        }
    }

    fn state_problem(&self, error: &dyn std::fmt::Display) -> Response {
        tracing::error!(blog = %self.site.config.name, "{error}");
        self.problem(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
    }

    /// The sign-up form, filled in as `filled`, with `errors`.
    fn subscribe_page(
        &self,
        status: StatusCode,
        filled: &Filled,
        errors: &[FieldError],
    ) -> Response {
        let csrf = security::csrf_token(&self.site.signer, "subscribe", Utc::now());
        self.render(
            status,
            "subscribe",
            json!({
                "action": self.url("subscribe"),
                "csrf": csrf,
                "filled": filled,
                "errors": errors,
                "field_errors": forms::by_field(errors),
                "tags": self.site.pages.tags,
                "authors": self.site.pages.authors,
            }),
        )
    }

    /// The page of a link that changes something (`confirm`,
    /// `unsubscribe`): opening it only shows a button whose form posts
    /// back to the link.
    fn button_page(&self, name: &str, token: &str, claims: &Claims) -> Response {
        let form = format!("{name}:{}", claims.subscriber);
        self.render(
            StatusCode::OK,
            name,
            json!({
                "action": self.url(&format!("{name}/{token}")),
                "csrf": security::csrf_token(&self.site.signer, &form, Utc::now()),
            }),
        )
    }

    /// A form post's fields, once its origin, size and CSRF token for form
    /// `form` checked out.
    fn posted(
        &self,
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
        form: &str,
    ) -> Result<FormData, Refused> {
        if !security::same_origin(headers, &self.site.serve) {
            return Err(Refused::Forbidden);
        }
        let body = body.map_err(|_| Refused::TooLarge)?;
        let fields = FormData::parse(&body);
        if !security::csrf_ok(&self.site.signer, fields.get("csrf"), form, Utc::now()) {
            return Err(Refused::Forbidden);
        }
        Ok(fields)
    }

    fn refused(&self, why: Refused) -> Response {
        match why {
            Refused::Forbidden => self.problem(StatusCode::FORBIDDEN, "forbidden"),
            Refused::TooLarge => self.problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        }
    }

    /// The subscription a manage token names, when the token's key is
    /// still its key.
    /// The subscription a manage token is for: it must exist and carry
    /// the token's key.
    fn managed(&self, claims: &Claims, found: Found) -> Result<Subscription, Box<Response>> {
        match found {
            Ok(Some(s)) if s.manage_key == claims.key => Ok(s),
            Ok(_) => Err(Box::new(
                self.problem(StatusCode::NOT_FOUND, "unknown_subscription"),
            )),
            Err(e) => Err(Box::new(self.state_problem(&e))),
        }
    }

    fn manage_page(
        &self,
        status: StatusCode,
        token: &str,
        claims: &Claims,
        filled: &Filled,
        errors: &[FieldError],
        saved: bool,
    ) -> Response {
        let form = format!("manage:{}", claims.subscriber);
        self.render(
            status,
            "manage",
            json!({
                "action": self.url(&format!("manage/{token}")),
                "csrf": security::csrf_token(&self.site.signer, &form, Utc::now()),
                "filled": filled,
                "errors": errors,
                "field_errors": forms::by_field(errors),
                "saved": saved,
                "tags": self.site.pages.tags,
                "authors": self.site.pages.authors,
            }),
        )
    }
}

type Body = Result<Bytes, BytesRejection>;

/// Why a form post was turned away before its fields were read.
enum Refused {
    /// Another origin, or no valid CSRF token for the form.
    Forbidden,
    /// Over [`MAX_BODY`].
    TooLarge,
}

/// The page a link leads to, in the subscriber's language, with the claims
/// of its token (checked for `purpose`), or the page that says what is
/// wrong with the link.
/// The subscription a token names, as read from the state.
type Found = Result<Option<Subscription>, StateError>;

/// The page of a link: the token checked for `purpose` and the
/// subscription it names read.
async fn open(
    sites: &Sites,
    blog: &str,
    token: &str,
    purpose: Purpose,
    uri: &Uri,
) -> Result<(Page, Claims, Found), Response> {
    let Some(mut page) = Page::find(sites, blog, uri) else {
        return Err(not_found());
    };
    match page.site.signer.verify(token, purpose, Utc::now()) {
        Ok(claims) => {
            let found = page.look_up(&claims.subscriber, uri).await;
            Ok((page, claims, found))
        }
        Err(e) => Err(page.token_problem(e)),
    }
}

/// An unknown blog: nothing to render a page with.
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

async fn subscribe_form(
    State(sites): State<Sites>,
    Path(blog): Path<String>,
    uri: Uri,
) -> Response {
    match Page::find(&sites, &blog, &uri) {
        Some(page) => page.subscribe_page(StatusCode::OK, &Filled::blank(), &[]),
        None => not_found(),
    }
}

async fn subscribe(
    State(sites): State<Sites>,
    Extension(limiter): Extension<Arc<Limiter>>,
    Path(blog): Path<String>,
    Peer(peer): Peer,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(page) = Page::find(&sites, &blog, &uri) else {
        return not_found();
    };
    let client = security::client(peer, &headers, &page.site.serve);
    if let Err(wait) = limiter.check(client, Instant::now()) {
        let mut response = page.problem(StatusCode::TOO_MANY_REQUESTS, "too_many");
        let seconds = wait.as_secs().max(1).to_string();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&seconds).expect("digits are a header value"),
        );
        return response;
    }
    let form = match page.posted(&headers, body, "subscribe") {
        Ok(form) => form,
        Err(why) => return page.refused(why),
    };
    let check_mailbox = || page.render(StatusCode::OK, "check_mailbox", json!({}));
    // Only a robot fills in a field that people cannot see: it gets the
    // same answer, and nothing is stored or sent.
    if form.get("website").is_some_and(|v| !v.trim().is_empty()) {
        tracing::info!(blog = %blog, "sign-up with the honeypot filled in: ignored");
        return check_mailbox();
    }
    let mut errors = Vec::new();
    let address = forms::address(&form).map_err(|e| errors.push(e)).ok();
    let choices = forms::choices(&form, &page.site.pages, page.language)
        .map_err(|e| errors.extend(e))
        .ok();
    let (Some(address), Some(choices)) = (address, choices) else {
        let filled = Filled::from_form(&form);
        return page.subscribe_page(StatusCode::UNPROCESSABLE_ENTITY, &filled, &errors);
    };
    let now = Utc::now();
    let requested = page
        .site
        .store
        .request_email(&blog, &address, &choices, now, QUIET)
        .await;
    let (subscription, mail, kind) = match requested {
        Ok(Requested::Pending { subscription, mail }) => (subscription, mail, Kind::Confirm),
        Ok(Requested::Confirmed { subscription, mail }) => (subscription, mail, Kind::Known),
        Err(e) => return page.state_problem(&e),
    };
    tracing::info!(blog = %blog, subscription = %subscription.subscriber_id(), mail, "sign-up requested");
    if mail {
        let language = Language::from_code(&subscription.choices.language).unwrap_or(page.language);
        mail::spawn(page.site.clone(), subscription, kind, language, now);
    }
    check_mailbox()
}

async fn confirm_form(
    State(sites): State<Sites>,
    Path((blog, token)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    match open(&sites, &blog, &token, Purpose::Confirm, &uri).await {
        Ok((page, claims, _)) => page.button_page("confirm", &token, &claims),
        Err(response) => response,
    }
}

async fn confirm(
    State(sites): State<Sites>,
    Path((blog, token)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (page, claims, _) = match open(&sites, &blog, &token, Purpose::Confirm, &uri).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let now = Utc::now();
    if let Err(why) = page.posted(&headers, body, &format!("confirm:{}", claims.subscriber)) {
        return page.refused(why);
    }
    let Some(id) = subscription_id(&claims.subscriber) else {
        return page.problem(StatusCode::BAD_REQUEST, "invalid_link");
    };
    match page.site.store.confirm(&blog, id, claims.key, now).await {
        Ok(Confirmed::Now(subscription)) => {
            tracing::info!(blog = %blog, subscription = %claims.subscriber, "subscription confirmed");
            let manage_url = mail::manage_url(&page.site, &subscription);
            page.render(
                StatusCode::OK,
                "confirmed",
                json!({ "manage_url": manage_url }),
            )
        }
        Ok(Confirmed::AlreadyUsed) => page.problem(StatusCode::CONFLICT, "already_confirmed"),
        Ok(Confirmed::Unknown) => page.problem(StatusCode::NOT_FOUND, "unknown_request"),
        Err(e) => page.state_problem(&e),
    }
}

async fn manage_form(
    State(sites): State<Sites>,
    Path((blog, token)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let (page, claims, found) = match open(&sites, &blog, &token, Purpose::Manage, &uri).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let subscription = match page.managed(&claims, found) {
        Ok(s) => s,
        Err(response) => return *response,
    };
    let filled = Filled::from_choices(&subscription.choices);
    page.manage_page(StatusCode::OK, &token, &claims, &filled, &[], false)
}

async fn manage(
    State(sites): State<Sites>,
    Path((blog, token)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (page, claims, found) = match open(&sites, &blog, &token, Purpose::Manage, &uri).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let form = match page.posted(&headers, body, &format!("manage:{}", claims.subscriber)) {
        Ok(form) => form,
        Err(why) => return page.refused(why),
    };
    let subscription = match page.managed(&claims, found) {
        Ok(s) => s,
        Err(response) => return *response,
    };
    match form.get("action") {
        Some("unsubscribe") => match page
            .site
            .store
            .remove_subscription(&blog, subscription.id)
            .await
        {
            Ok(_) => {
                tracing::info!(blog = %blog, subscription = %claims.subscriber, "unsubscribed (manage page)");
                page.render(StatusCode::OK, "unsubscribed", json!({}))
            }
            Err(e) => page.state_problem(&e),
        },
        Some("save") => {
            // The language the reader subscribed in stays theirs.
            let language =
                Language::from_code(&subscription.choices.language).unwrap_or(page.language);
            match forms::choices(&form, &page.site.pages, language) {
                Err(errors) => {
                    let filled = Filled::from_form(&form);
                    page.manage_page(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &token,
                        &claims,
                        &filled,
                        &errors,
                        false,
                    )
                }
                Ok(choices) => match page
                    .site
                    .store
                    .update_choices(&blog, subscription.id, &choices)
                    .await
                {
                    Ok(_) => {
                        tracing::info!(blog = %blog, subscription = %claims.subscriber, "choices changed");
                        let filled = Filled::from_choices(&choices);
                        page.manage_page(StatusCode::OK, &token, &claims, &filled, &[], true)
                    }
                    Err(e) => page.state_problem(&e),
                },
            }
        }
        _ => page.problem(StatusCode::BAD_REQUEST, "bad_form"),
    }
}

async fn unsubscribe_form(
    State(sites): State<Sites>,
    Path((blog, token)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    match open(&sites, &blog, &token, Purpose::Unsubscribe, &uri).await {
        Ok((page, claims, _)) => page.button_page("unsubscribe", &token, &claims),
        Err(response) => response,
    }
}

/// RFC 8058 one-click (no CSRF token, no origin check: mail providers POST
/// `List-Unsubscribe=One-Click` from their servers) or the confirm page's
/// form. Idempotent: leaving twice answers the same page.
async fn unsubscribe(
    State(sites): State<Sites>,
    Path((blog, token)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (page, claims, found) = match open(&sites, &blog, &token, Purpose::Unsubscribe, &uri).await
    {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let now = Utc::now();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let one_click = match &body {
        Ok(bytes) => forms::is_one_click(content_type, bytes),
        Err(_) => false,
    };
    if !one_click
        && let Err(why) = page.posted(
            &headers,
            body,
            &format!("unsubscribe:{}", claims.subscriber),
        )
    {
        return page.refused(why);
    }
    let store = &page.site.store;
    let done = match subscription_id(&claims.subscriber) {
        Some(id) => match found {
            // Gone already: leaving twice is leaving once.
            Ok(None) => Ok(()),
            Ok(Some(s)) if s.manage_key != claims.key => {
                return page.problem(StatusCode::BAD_REQUEST, "invalid_link");
            }
            Ok(Some(_)) => store.remove_subscription(&blog, id).await.map(drop),
            Err(e) => Err(e),
        },
        // A subscriber of the feed definition: its choice is remembered.
        None => store
            .opt_out(&blog, &claims.subscriber, now)
            .await
            .map(drop),
    };
    match done {
        Ok(()) => {
            tracing::info!(blog = %blog, subscriber = %claims.subscriber, one_click, "unsubscribed");
            page.render(StatusCode::OK, "unsubscribed", json!({}))
        }
        Err(e) => page.state_problem(&e),
    }
}
