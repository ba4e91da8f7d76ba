//! What `preview` shows: the exact message one subscriber would get for one
//! post, built as a run builds it, with 0 standing in for the delivery id
//! (a preview has no outbox row). Nothing is sent or recorded.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::email::{self, EmailError};
use super::webhook::{self, WebhookError, display_url};
use super::{Payload, blog_info, message_id, snapshot};
use crate::config::BlogConfig;
use crate::config::subscribers::{Subscriber, Target};
use crate::model::Post;
use crate::templates::Templates;

/// A message as it would go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preview {
    /// The whole email as it goes on the wire (RFC 5322).
    Email(Vec<u8>),
    /// The webhook request, its URL shown only as far as `display_url` does.
    Webhook {
        url: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("no [email] section in {}", .0.display())]
    NoEmailSection(PathBuf),
    #[error(transparent)]
    Email(#[from] EmailError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}

/// The message `subscriber` would get about `post`, dated `now`.
pub fn preview(
    config: &BlogConfig,
    post: &Post,
    subscriber: &Subscriber,
    templates: &Templates,
    now: DateTime<Utc>,
) -> Result<Preview, PreviewError> {
    let payload = Payload {
        blog: blog_info(config),
        posts: vec![snapshot(config, post)],
    };
    let id = message_id(config, 0);
    match &subscriber.target {
        Target::Email { .. } => {
            let cfg = config
                .email
                .as_ref()
                .ok_or_else(|| PreviewError::NoEmailSection(config.file.clone()))?;
            // A missing secret shows as no links here; `check` and `run`
            // report it.
            let links = email::Links::for_blog(config.serve.as_ref(), &config.name, &|k| {
                std::env::var(k).ok()
            })
            .ok()
            .flatten();
            let msg = email::build_message(
                cfg,
                templates,
                &payload,
                subscriber,
                &id,
                now,
                links.as_ref(),
            )?;
            Ok(Preview::Email(msg.formatted()))
        }
        Target::Webhook {
            url,
            format,
            secret,
            ..
        } => {
            let req = webhook::prepare_in(
                subscriber.language,
                &payload,
                *format,
                url,
                secret.as_ref(),
                templates,
                &id,
                now,
            )?;
            Ok(Preview::Webhook {
                url: display_url(&req.url),
                headers: req.headers,
                body: req.body,
            })
        }
    }
}
