//! What the pages show and how they are drawn: the templates of
//! `templates/pages/` (and the mails of `templates/email/*/confirm_*`,
//! `known_*`), each overridable from the blog's `templates` folder like the
//! notification templates; the tags and authors a reader may choose; the
//! stylesheet, inlined in every page and allowed by its hash in the
//! `Content-Security-Policy`, so a page is one request and needs nothing
//! from elsewhere.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::config::BlogConfig;
use crate::config::subscribers::Language;
use crate::posts::authors::AuthorsFile;
use crate::posts::tags::TagsFile;
use crate::templates::{TemplateError, Templates};

macro_rules! built_in {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

/// The built-in page and mail templates: name (also the path under
/// `templates/` and under a blog's override folder) and text.
const BUILT_IN: &[(&str, &str)] = built_in![
    "pages/base.html",
    "pages/style.css",
    "pages/nl/messages.html",
    "pages/nl/privacy.html",
    "pages/nl/choices.html",
    "pages/nl/subscribe.html",
    "pages/nl/check_mailbox.html",
    "pages/nl/confirm.html",
    "pages/nl/confirmed.html",
    "pages/nl/manage.html",
    "pages/nl/unsubscribe.html",
    "pages/nl/unsubscribed.html",
    "pages/nl/problem.html",
    "pages/en/messages.html",
    "pages/en/privacy.html",
    "pages/en/choices.html",
    "pages/en/subscribe.html",
    "pages/en/check_mailbox.html",
    "pages/en/confirm.html",
    "pages/en/confirmed.html",
    "pages/en/manage.html",
    "pages/en/unsubscribe.html",
    "pages/en/unsubscribed.html",
    "pages/en/problem.html",
    "email/nl/confirm_subject.txt",
    "email/nl/confirm_body.txt",
    "email/nl/confirm_body.html",
    "email/nl/known_subject.txt",
    "email/nl/known_body.txt",
    "email/nl/known_body.html",
    "email/en/confirm_subject.txt",
    "email/en/confirm_body.txt",
    "email/en/confirm_body.html",
    "email/en/known_subject.txt",
    "email/en/known_body.txt",
    "email/en/known_body.html",
];

/// A tag a reader may choose.
#[derive(Debug, Clone, Serialize)]
pub struct TagChoice {
    pub key: String,
    pub label: String,
    pub description: Option<String>,
}

/// An author a reader may choose.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorChoice {
    pub key: String,
    pub name: String,
    pub title: Option<String>,
}

/// Everything a blog's pages need besides the state, loaded once.
#[derive(Debug)]
pub struct Pages {
    templates: Templates,
    css: String,
    /// `Content-Security-Policy` of every page, with the stylesheet's hash.
    csp: HeaderValue,
    pub tags: Vec<TagChoice>,
    pub authors: Vec<AuthorChoice>,
    /// The blog's language (`language` starting with `en`: English).
    pub language: Language,
    blog_title: String,
    /// The blog's own page, linked from every page's header.
    blog_url: String,
}

impl Pages {
    /// Loads the templates (overrides from the blog's `templates` folder)
    /// and the tags and authors offered. A tags or authors file that cannot
    /// be read offers nothing and is logged, as a run would report it.
    pub fn load(config: &BlogConfig) -> Result<Pages, TemplateError> {
        let templates = Templates::load_set(config.templates.as_deref(), BUILT_IN)?;
        let css = templates.render("pages/style.css", &json!({}))?;
        let hash = STANDARD.encode(Sha256::digest(css.as_bytes()));
        let csp = format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        let mut problems = Vec::new();
        let tags_route = config.blog_route("/tags");
        let tags = config
            .tags_file
            .as_deref()
            .and_then(|p| TagsFile::load(p, &mut problems))
            .map(|file| {
                file.keys()
                    .iter()
                    .filter_map(|key| file.resolve(key, &tags_route))
                    .map(|t| TagChoice {
                        key: t.key,
                        label: t.label,
                        description: t.description,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let authors = config
            .authors_file
            .as_deref()
            .and_then(|p| AuthorsFile::load(p, &mut problems))
            .map(|file| {
                file.keys()
                    .into_iter()
                    .map(|key| {
                        let author = file.get(&key);
                        AuthorChoice {
                            name: author
                                .and_then(|a| a.name.clone())
                                .unwrap_or_else(|| key.clone()),
                            title: author.and_then(|a| a.title.clone()),
                            key,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        for problem in problems {
            tracing::warn!(blog = %config.name, "{problem}");
        }
        let language = Language::of_blog(config.language.as_deref());
        Ok(Pages {
            templates,
            csp: HeaderValue::from_str(&csp).expect("a CSP of ASCII is a header value"),
            css,
            tags,
            authors,
            language,
            blog_title: config.title.clone(),
            blog_url: config.site_link(&config.blog_route("")),
        })
    }

    /// The language of a page: `?lang=en|nl` when given, else the blog's.
    pub fn language(&self, query: Option<&str>) -> Language {
        requested(query).unwrap_or(self.language)
    }

    /// Page `name` (`subscribe`, `problem`, ...) in `language`, with the
    /// page's security policy. `ctx` is completed with what every page
    /// shows (`lang`, `blog_title`, `css`).
    pub fn page(&self, status: StatusCode, language: Language, name: &str, ctx: Value) -> Response {
        let mut ctx = ctx;
        if let Value::Object(map) = &mut ctx {
            map.insert("lang".into(), language.code().into());
            map.insert("blog_title".into(), self.blog_title.clone().into());
            map.insert("blog_url".into(), self.blog_url.clone().into());
            map.insert("css".into(), self.css.clone().into());
        }
        let template = format!("pages/{}/{name}.html", language.code());
        match self.templates.render(&template, &ctx) {
            Ok(html) => {
                let mut response = (status, Html(html)).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
                // Every page holds a token (CSRF, or a link's): never cached.
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            Err(e) => {
                tracing::error!("{e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }

    /// A mail's subject, text and HTML body from `email/<language>/<name>_*`.
    pub fn mail(
        &self,
        language: Language,
        name: &str,
        ctx: &Value,
    ) -> Result<(String, String, String), TemplateError> {
        let base = format!("email/{}/{name}", language.code());
        let subject = self.templates.render(&format!("{base}_subject.txt"), ctx)?;
        let text = self.templates.render(&format!("{base}_body.txt"), ctx)?;
        let html = self.templates.render(&format!("{base}_body.html"), ctx)?;
        Ok((subject, text, html))
    }
}

/// The language `?lang=en|nl` asks for.
pub fn requested(query: Option<&str>) -> Option<Language> {
    let query = query?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Language::from_code(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_page_template_parses() {
        let templates = Templates::load_set(None, BUILT_IN).unwrap();
        assert!(templates.render("pages/style.css", &json!({})).is_ok());
    }
}
