//! `postbode serve`: the subscription pages and the webhook API of every
//! blog with a `[serve]` table, until SIGTERM or SIGINT. Also started by
//! `daemon --serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::output;
use crate::cli::{Outcome, for_each_blog, stop_on_signals, stopped, with_source};
use crate::config::BlogConfig;
use crate::server::serve;

/// Reads the definitions, opens their states and starts serving on `addr`;
/// the address bound (a port 0 becomes a real one) is printed. `None`, with
/// the error printed, when a blog named cannot be served.
pub async fn start(
    files: &[PathBuf],
    state: Option<&Path>,
    addr: SocketAddr,
) -> Option<SocketAddr> {
    let named = !files.is_empty();
    let mut configs: Vec<BlogConfig> = Vec::new();
    let outcome = for_each_blog(files, state, async |c| {
        if c.serve.is_none() {
            if named {
                output::error(format_args!(
                    "{}: no [serve] table (public_url, secret_env): nothing to serve for blog {}",
                    c.file.display(),
                    c.name
                ));
                return Outcome::Fatal;
            }
            return Outcome::Ok;
        }
        // The pages offer the blog's tags and authors: a git source is
        // checked out first.
        with_source(c, async |c| {
            configs.push(c.clone());
            Outcome::Ok
        })
        .await
    })
    .await;
    if outcome == Outcome::Fatal {
        return None;
    }
    if configs.is_empty() {
        output::error("no feed definition has a [serve] table (public_url, secret_env)");
        return None;
    }
    let sites = match serve::prepare(&configs, &|k| std::env::var(k).ok()).await {
        Ok(sites) => sites,
        Err(e) => {
            output::error(e);
            return None;
        }
    };
    match serve::start(addr, sites).await {
        Ok(bound) => {
            let blogs: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
            output::note(format_args!(
                "postbode: serving the subscription pages of {} on http://{bound}",
                blogs.join(", ")
            ));
            Some(bound)
        }
        Err(e) => {
            output::error(format_args!("cannot listen on {addr}: {e}"));
            None
        }
    }
}

pub async fn run(files: &[PathBuf], state: Option<&Path>, addr: SocketAddr) -> Outcome {
    let Some(stop) = stop_on_signals() else {
        return Outcome::Fatal;
    };
    if start(files, state, addr).await.is_none() {
        return Outcome::Fatal;
    }
    while !stopped(&stop) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Outcome::Ok
}
