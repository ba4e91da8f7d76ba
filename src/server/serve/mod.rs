//! `postbode serve`: the pages where readers subscribe themselves (double
//! opt-in), change what they get and leave (RFC 8058 one-click), and the
//! webhook subscription API for teams. One axum router for every blog with
//! a `[serve]` table, each under `/{blog}/`:
//!
//! - `pages.rs`: `GET|POST /{blog}/subscribe`, `/{blog}/confirm/{token}`,
//!   `/{blog}/manage/{token}`, `/{blog}/unsubscribe/{token}`
//! - `api.rs`: `/{blog}/api/v1/subscriptions[/{id}]`, `/{blog}/api/v1/openapi.json`
//!
//! Everything a subscriber is known by in a URL is a signed token
//! (`crate::token`), never an address.

pub mod api;
pub mod forms;
pub mod mail;
pub mod pages;
pub mod ratelimit;
pub mod security;
#[cfg(test)]
mod tests;
pub mod view;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::config::{BlogConfig, ServeConfig};
use crate::state::{StateError, Store};
use crate::token::Signer;

/// One blog as the service sees it.
pub struct Site {
    pub config: BlogConfig,
    pub serve: ServeConfig,
    pub store: Store,
    pub signer: Signer,
    /// The webhook API's bearer token; `None`: the API answers 404.
    pub api_token: Option<SecretString>,
    /// The pages' templates and the tags and authors they offer.
    pub pages: view::Pages,
}

/// Every blog served, by name.
#[derive(Clone)]
pub struct Sites(pub Arc<BTreeMap<String, Arc<Site>>>);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{file}: no [serve] table, so there is nothing to serve for blog {blog}")]
    NotServed {
        file: std::path::PathBuf,
        blog: String,
    },
    #[error("{file}: {message}")]
    Secret {
        file: std::path::PathBuf,
        message: String,
    },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
}

/// Opens the state of every blog and reads its secrets from `env`.
pub async fn prepare(
    configs: &[BlogConfig],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Sites, ServeError> {
    let mut sites = BTreeMap::new();
    for config in configs {
        let Some(serve) = config.serve.clone() else {
            return Err(ServeError::NotServed {
                file: config.file.clone(),
                blog: config.name.clone(),
            });
        };
        let secret = serve.secret(env).map_err(|message| ServeError::Secret {
            file: config.file.clone(),
            message,
        })?;
        let api_token = match &serve.webhooks_api_token_env {
            None => None,
            Some(var) => match env(var).filter(|t| !t.trim().is_empty()) {
                Some(t) => Some(SecretString::from(t)),
                None => {
                    return Err(ServeError::Secret {
                        file: config.file.clone(),
                        message: format!(
                            "serve: webhooks_api_token_env names {var}, which is not set"
                        ),
                    });
                }
            },
        };
        let pages = view::Pages::load(config)?;
        let store = Store::open(&config.state).await?;
        let site = Site {
            pages,
            signer: Signer::new(&secret, &config.name),
            config: config.clone(),
            serve,
            store,
            api_token,
        };
        sites.insert(config.name.clone(), Arc::new(site));
    }
    Ok(Sites(Arc::new(sites)))
}

/// The whole service.
pub fn router(sites: Sites) -> Router {
    Router::new()
        .merge(pages::routes())
        .merge(api::routes())
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(sites)
}

/// Binds `addr` and serves on the current runtime until the process ends;
/// binding errors are returned at once.
pub async fn start(addr: SocketAddr, sites: Sites) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(sites.clone());
    tokio::spawn(pages::purge_every_hour(sites));
    tracing::info!(listen = %bound, "serving the subscription pages");
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the subscription service stopped: {e}");
        }
    });
    Ok(bound)
}
