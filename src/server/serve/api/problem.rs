//! Errors of the webhook API as RFC 9457 problem details
//! (`application/problem+json`), the form the Dutch API Design Rules ask
//! for (API-46): `type`, `title`, `status`, `detail`, `instance`, and for
//! input that fails validation an `invalidParams` list of `{name, reason}`,
//! as the Dutch API strategy's problem extension spells it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field of a request body that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidParam {
    /// The field (`url`, `tags[1]`), or `body` for the body as a whole.
    pub name: String,
    pub reason: String,
}

impl InvalidParam {
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> InvalidParam {
        InvalidParam {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// A problem to answer with (boxed: handlers return it as their error, and
/// the error of a `Result` should stay small).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Problem(Box<Details>);

/// The members of a problem document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    /// `about:blank`: the status says what kind of problem it is, so the
    /// title is the status's reason phrase (RFC 9457 section 4.2.1).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The path of the request.
    pub instance: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_params: Vec<InvalidParam>,
    /// Sent as the `Allow` header of a 405.
    #[serde(skip)]
    allow: Option<&'static str>,
}

impl Problem {
    pub fn new(status: StatusCode, instance: &str, detail: impl Into<String>) -> Problem {
        Problem(Box::new(Details {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            instance: instance.to_string(),
            invalid_params: Vec::new(),
            allow: None,
        }))
    }

    pub fn not_found(instance: &str) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            instance,
            "there is no such resource here",
        )
    }

    /// 422 with the fields at fault.
    pub fn invalid(instance: &str, params: Vec<InvalidParam>) -> Problem {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            instance,
            "the request body has fields that are not valid; see invalidParams",
        )
        .with_params(params)
    }

    /// The same problem naming the fields at fault.
    pub fn with_params(mut self, params: Vec<InvalidParam>) -> Problem {
        self.0.invalid_params = params;
        self
    }

    /// 405, naming the methods the resource has.
    pub fn method_not_allowed(instance: &str, allow: &'static str) -> Problem {
        let mut p = Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            instance,
            format!("this resource answers {allow}"),
        );
        p.0.allow = Some(allow);
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response();
        let headers = response.headers_mut();
        if let Some(allow) = self.0.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_has_the_fields_of_rfc_9457_and_the_invalid_params_in_camel_case() {
        let p = Problem::invalid(
            "/blog/api/v1/subscriptions",
            vec![InvalidParam::new("url", "must use https")],
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "about:blank",
                "title": "Unprocessable Entity",
                "status": 422,
                "detail": "the request body has fields that are not valid; see invalidParams",
                "instance": "/blog/api/v1/subscriptions",
                "invalidParams": [{"name": "url", "reason": "must use https"}],
            })
        );
        let response = Problem::new(StatusCode::UNAUTHORIZED, "/x", "no").into_response();
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let response = Problem::method_not_allowed("/x", "GET, POST").into_response();
        assert_eq!(response.headers()[header::ALLOW], "GET, POST");
    }
}
