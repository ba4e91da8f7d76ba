//! WebSub publishing: after a build changed feed files, tell the hub named
//! by `websub_hub` which feed URLs (topics) changed, so it fetches them and
//! pushes them to its subscribers.
//!
//! W3C WebSub §7 leaves the publisher-to-hub call to the hub; the common one
//! (PubSubHubbub 0.3/0.4, Google's pubsubhubbub.appspot.com, Superfeedr,
//! WebSub.rocks, Switchboard) is a form-encoded POST of `hub.mode=publish`
//! and `hub.url=<topic>`, answered with 2xx (usually 204). PubSubHubbub 0.3
//! allows repeating `hub.url`, but not every hub reads more than the first,
//! so postbode sends one request per changed feed URL.
//!
//! A failed ping never stops a run: it is reported and the run exits 1.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::diag::{error_chain, redact_url};
use crate::net::USER_AGENT;

/// Attempts per feed URL, and the waits between them.
const ATTEMPTS: usize = 3;
const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_millis(1500)];
const TIMEOUT: Duration = Duration::from_secs(10);
/// Requests in flight at once: a new post changes a few dozen feeds (blog,
/// each tag, each author, three formats), which a hub should not get at once.
const CONCURRENCY: usize = 4;

/// Pings `hub` for every URL in `feed_urls`; returns one message per URL
/// that still failed after the retries.
pub async fn publish(hub: &str, feed_urls: &[String]) -> Vec<String> {
    if feed_urls.is_empty() {
        return Vec::new();
    }
    // reqwest is built without a default crypto provider; use ring, the one
    // the rest of postbode uses. A second install is a harmless no-op.
    crate::net::install_crypto_provider();
    let client = match reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => return vec![format!("websub: cannot build the HTTP client: {e}")],
    };
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for url in feed_urls {
        let (client, hub, url, limit) =
            (client.clone(), hub.to_string(), url.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            ping(&client, &hub, &url).await
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("websub: a ping task failed: {e}")),
        }
    }
    failures.sort();
    failures
}

/// One topic, up to [`ATTEMPTS`] tries: transport errors, 429 and 5xx are
/// retried; any other non-2xx answer is final.
async fn ping(client: &reqwest::Client, hub: &str, feed_url: &str) -> Result<(), String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("hub.mode", "publish")
        .append_pair("hub.url", feed_url)
        .finish();
    let shown = redact_url(hub);
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(BACKOFF[attempt - 1]).await;
        }
        let sent = client
            .post(hub)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                tracing::info!(hub = %shown, topic = %feed_url, "websub hub notified");
                return Ok(());
            }
            Ok(resp) => {
                let status = resp.status();
                last = format!("hub answered {status}");
                if !(status.is_server_error() || status.as_u16() == 429) {
                    break;
                }
            }
            Err(e) => last = error_chain(&e.without_url()),
        }
        tracing::debug!(hub = %shown, topic = %feed_url, attempt, error = %last, "websub ping failed");
    }
    Err(format!(
        "websub: cannot notify {shown} of {feed_url}: {last}"
    ))
}
