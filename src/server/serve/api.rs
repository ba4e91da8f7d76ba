//! The webhook subscription API for teams, under `/{blog}/api/v1`:
//! `GET|POST /subscriptions`, `GET|DELETE /subscriptions/{id}`, and the
//! OpenAPI 3.1 document that describes them at `/openapi.json`.
//!
//! It follows the Dutch API Design Rules where they apply: errors are
//! problem details (`problem.rs`), a trailing slash is another (unknown)
//! path, every answer carries `API-Version`, field names are camelCase.
//! Access is a bearer token from `[serve] webhooks_api_token_env`; without
//! one the API is not there (404), so a blog that never asked for it shows
//! nothing. Only webhook subscriptions are visible here: the email
//! subscribers' ids answer 404 like ids that do not exist.
//!
//! A webhook URL is a secret (anyone who has a Slack or Teams URL can post
//! to the channel), so it is never answered in full, nor is the signing
//! secret: a subscription shows `scheme://host/…` and whether it is signed.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

use self::input::Known;
use self::problem::{InvalidParam, Problem};
use super::{Site, Sites};
use crate::notify::webhook::display_url;
use crate::state::subscriptions::{Kind, Subscription};

mod input;
pub mod problem;

/// The version of the API as the document describes it; every answer
/// says it in `API-Version` (Dutch API Design Rules, API-57). The path has
/// only the major version.
pub const API_VERSION: &str = "1.0.0";

/// The largest request body read; a subscription is well under 3 KB.
pub const MAX_BODY: usize = 16 * 1024;

/// The OpenAPI document, filled in per blog when asked for.
const OPENAPI: &str = include_str!("api/openapi.json");

pub fn routes() -> Router<Sites> {
    Router::new()
        .route(
            "/{blog}/api/v1/subscriptions",
            with_allow(get(list).post(create), "GET, POST"),
        )
        .route(
            "/{blog}/api/v1/subscriptions/{id}",
            with_allow(get(show).delete(remove), "GET, DELETE"),
        )
        .route(
            "/{blog}/api/v1/openapi.json",
            with_allow(get(openapi), "GET"),
        )
        // Everything else under the API, a trailing slash too, is a 404 in
        // the API's own form rather than the router's empty one.
        .route("/{blog}/api/{*rest}", any(not_found))
        .layer(map_response(api_version))
}

/// A 405 problem with `Allow` for the methods a path does not have.
fn with_allow(route: MethodRouter<Sites>, allow: &'static str) -> MethodRouter<Sites> {
    route.fallback(move |uri: Uri| async move { Problem::method_not_allowed(uri.path(), allow) })
}

async fn api_version(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("api-version", HeaderValue::from_static(API_VERSION));
    response
}

async fn not_found(uri: Uri) -> Problem {
    Problem::not_found(uri.path())
}

/// Who may use the API: a request for a blog with the API switched on that
/// carries its token. Refused with 404 (no API) or 401.
struct Caller {
    site: Arc<Site>,
    uri: Uri,
}

impl FromRequestParts<Sites> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, sites: &Sites) -> Result<Caller, Problem> {
        let uri = parts.uri.clone();
        let params = Path::<HashMap<String, String>>::from_request_parts(parts, sites)
            .await
            .map_err(|_| Problem::not_found(uri.path()))?;
        let blog = params.get("blog").map_or("", String::as_str);
        let site = authorized(sites, blog, &parts.headers, &uri)?;
        Ok(Caller { site, uri })
    }
}

/// The blog's site when it has the API switched on, and the request
/// carries its token.
fn authorized(
    sites: &Sites,
    blog: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Arc<Site>, Problem> {
    let site = enabled(sites, blog, uri)?;
    let Some(expected) = site.api_token.as_ref() else {
        return Err(Problem::not_found(uri.path()));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match given {
        Some(token) if same_token(token, expected.expose_secret()) => Ok(site),
        Some(_) => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            uri.path(),
            "the bearer token is not this API's",
        )),
        None => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            uri.path(),
            "this API needs an Authorization: Bearer header",
        )),
    }
}

/// The blog's site when it serves the API; otherwise the API is not there.
fn enabled(sites: &Sites, blog: &str, uri: &Uri) -> Result<Arc<Site>, Problem> {
    sites
        .0
        .get(blog)
        .filter(|site| site.api_token.is_some())
        .cloned()
        .ok_or_else(|| Problem::not_found(uri.path()))
}

/// Compares in constant time: both sides go through HMAC-SHA256 first, so
/// the comparison (`verify_slice`, constant time) sees equal lengths and
/// says nothing about how much of a guess was right.
fn same_token(given: &str, expected: &str) -> bool {
    let mac = |token: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"postbode webhook API token")
            .expect("HMAC takes a key of any length");
        mac.update(token.as_bytes());
        mac
    };
    mac(given)
        .verify_slice(&mac(expected).finalize().into_bytes())
        .is_ok()
}

/// A subscription as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    id: i64,
    /// `scheme://host[:port]/…`: the rest is the secret part.
    url: String,
    format: String,
    /// Whether messages carry a Standard Webhooks signature.
    signed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    tags: Vec<String>,
    authors: Vec<String>,
    digest: String,
    language: String,
    created_at: DateTime<Utc>,
}

impl Resource {
    /// `None` for what the API does not show: email subscriptions.
    fn of(s: Subscription) -> Option<Resource> {
        let webhook = s.webhook.filter(|_| s.kind == Kind::Webhook)?;
        Some(Resource {
            id: s.id,
            url: display_url(&webhook.url),
            format: webhook.format,
            signed: webhook.secret.is_some(),
            label: webhook.label,
            tags: s.choices.tags,
            authors: s.choices.authors,
            digest: s.choices.digest,
            language: s.choices.language,
            created_at: s.requested_at,
        })
    }
}

fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!("the API could not write its answer: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A state error, logged; the client learns only that it was ours.
fn internal(uri: &Uri, e: impl std::fmt::Display) -> Problem {
    tracing::error!(
        path = uri.path(),
        "the webhook API could not use the state: {e}"
    );
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        uri.path(),
        "the subscriptions could not be read or written; try again later",
    )
}

type Answer = Result<Response, Problem>;

async fn list(Caller { site, uri }: Caller) -> Answer {
    let all = site
        .store
        .subscriptions(&site.config.name)
        .await
        .map_err(|e| internal(&uri, e))?;
    #[derive(Serialize)]
    struct List {
        subscriptions: Vec<Resource>,
    }
    let subscriptions = all.into_iter().filter_map(Resource::of).collect();
    Ok(json(StatusCode::OK, &List { subscriptions }))
}

/// The subscription `id` names, when it is a webhook of the blog.
async fn webhook(site: &Site, id: &str, uri: &Uri) -> Result<(i64, Resource), Problem> {
    // Ids are positive; anything else names nothing.
    let Some(id) = id.parse::<i64>().ok().filter(|id| *id > 0) else {
        return Err(Problem::not_found(uri.path()));
    };
    let found = site
        .store
        .subscription(&site.config.name, id)
        .await
        .map_err(|e| internal(uri, e))?;
    found
        .and_then(Resource::of)
        .map(|r| (id, r))
        .ok_or_else(|| Problem::not_found(uri.path()))
}

async fn show(Caller { site, uri }: Caller, Path((_, id)): Path<(String, String)>) -> Answer {
    let (_, resource) = webhook(&site, &id, &uri).await?;
    Ok(json(StatusCode::OK, &resource))
}

async fn remove(Caller { site, uri }: Caller, Path((_, id)): Path<(String, String)>) -> Answer {
    let (id, _) = webhook(&site, &id, &uri).await?;
    // Also cancels its deliveries not yet sent.
    site.store
        .remove_subscription(&site.config.name, id)
        .await
        .map_err(|e| internal(&uri, e))?;
    tracing::info!(blog = %site.config.name, subscription = id, "webhook subscription removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create(Caller { site, uri }: Caller, request: Request) -> Answer {
    let body = read_json(request, &uri).await?;
    let new = input::check(&body, &Known::load(&site.config))
        .map_err(|bad| Problem::invalid(uri.path(), bad))?;
    let added = site
        .store
        .add_confirmed(
            &site.config.name,
            Kind::Webhook,
            &new.url,
            Some(&new.target),
            &new.choices,
            Utc::now(),
        )
        .await
        .map_err(|e| internal(&uri, e))?;
    let Some(added) = added else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            uri.path(),
            "this blog has a subscription for that URL already",
        ));
    };
    let id = added.id;
    tracing::info!(blog = %site.config.name, subscription = id, "webhook subscription added");
    let location = site
        .serve
        .page(&site.config.name, &format!("api/v1/subscriptions/{id}"));
    let resource = Resource::of(added).ok_or_else(|| internal(&uri, "not stored as a webhook"))?;
    let mut response = json(StatusCode::CREATED, &resource);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The body as JSON: 415 unless it says it is JSON, 413 past [`MAX_BODY`],
/// 400 when it is not JSON after all.
async fn read_json(request: Request, uri: &Uri) -> Result<Value, Problem> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            uri.path(),
            "send the subscription as Content-Type: application/json",
        ));
    }
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            uri.path(),
            format!("the body may be at most {MAX_BODY} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| too_large())?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            uri.path(),
            "the body is not valid JSON",
        )
        .with_params(vec![InvalidParam::new("body", e.to_string())])
    })
}

/// The document, with this blog's server URL, contact, tags and authors.
async fn openapi(State(sites): State<Sites>, Path(blog): Path<String>, uri: Uri) -> Answer {
    let site = enabled(&sites, &blog, &uri)?;
    Ok(json(StatusCode::OK, &document(&site)))
}

static TEMPLATE: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(OPENAPI).expect("openapi.json is JSON"));

fn document(site: &Site) -> Value {
    let config = &site.config;
    let known = Known::load(config);
    let mut doc = TEMPLATE.clone();
    doc["info"]["title"] = Value::from(format!("{}: webhook subscriptions", config.title));
    doc["info"]["version"] = Value::from(API_VERSION);
    doc["info"]["contact"] = serde_json::json!({
        "name": config.title,
        "url": format!("{}/", config.site_url),
    });
    doc["servers"] = serde_json::json!([{
        "url": site.serve.page(&config.name, "api/v1"),
        "description": config.title,
    }]);
    let schemas = &mut doc["components"]["schemas"];
    schemas["NewSubscription"]["properties"]["url"]["pattern"] = input::URL_PATTERN.into();
    schemas["NewSubscription"]["properties"]["secret"]["pattern"] = input::SECRET_PATTERN.into();
    schemas["NewSubscription"]["properties"]["label"]["pattern"] = input::LABEL_PATTERN.into();
    if let Some(language) = known.language {
        schemas["NewSubscription"]["properties"]["language"]["default"] = language.code().into();
    }
    for (field, schema, keys) in [
        ("tags", "TagKey", &known.tags),
        ("authors", "AuthorKey", &known.authors),
    ] {
        if keys.is_empty() {
            // An empty enum is no schema to a generator: with nothing to
            // choose from, the list must stay empty instead.
            schemas["NewSubscription"]["properties"][field]["maxItems"] = 0.into();
        } else {
            schemas[schema]["enum"] = serde_json::json!(keys);
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_is_accepted() {
        let token = "team-token-0123456789";
        assert!(same_token(token, token));
        for other in [
            "",
            "team-token-012345678",
            "team-token-01234567890",
            "TEAM-TOKEN-0123456789",
        ] {
            assert!(!same_token(other, token), "{other:?}");
        }
    }

    #[test]
    fn the_document_template_is_openapi_3_1_with_a_problem_for_every_error() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(responses) = op["responses"].as_object() else {
                    continue;
                };
                for (status, response) in responses {
                    let at = format!("{method} {path} {status}");
                    let response = match response["$ref"].as_str() {
                        Some(r) => &doc["components"]["responses"][r.rsplit('/').next().unwrap()],
                        None => response,
                    };
                    assert!(response["headers"]["API-Version"].is_object(), "{at}");
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            response["content"]["application/problem+json"].is_object(),
                            "{at}"
                        );
                    }
                }
            }
        }
    }
}
