//! The daemon's HTTP endpoints, on axum: `GET /healthz` answers 200 while
//! the schedule keeps up and 503 once the last finished loop is older than
//! twice the interval (a stuck run, a dead loop), or while the last run
//! could not run at all (a lost state), so an orchestrator restarts it or
//! someone looks; `GET /metrics` is the Prometheus text, its gauges read
//! from the state on each scrape. Anything else is 404, another
//! method 405.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::{Health, Metrics};

#[derive(Clone)]
struct Shared {
    health: Arc<Health>,
    metrics: Arc<Metrics>,
}

/// Binds `addr` and serves the endpoints on the current runtime until the
/// process ends. Binding errors are returned at once, so a taken port stops
/// the daemon before its first run.
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(Shared { health, metrics });
    tracing::info!(listen = %bound, "serving /healthz and /metrics");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the health and metrics endpoint stopped: {e}");
        }
    });
    Ok(bound)
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn healthz(State(shared): State<Shared>) -> impl IntoResponse {
    match shared.health.check() {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

async fn metrics(State(shared): State<Shared>) -> impl IntoResponse {
    shared.metrics.read_states(chrono::Utc::now()).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    fn app(every: Duration) -> (Router, Arc<Health>) {
        let health = Arc::new(Health::new(every));
        let shared = Shared {
            health: health.clone(),
            metrics: Arc::new(Metrics::default()),
        };
        (router(shared), health)
    }

    async fn status(app: &Router, method: &str, path: &str) -> StatusCode {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn healthz_is_ok_while_the_loop_keeps_up_and_503_once_it_is_stuck() {
        let (app, health) = app(Duration::from_millis(50));
        assert_eq!(status(&app, "GET", "/healthz").await, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            status(&app, "GET", "/healthz").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.loop_finished();
        assert_eq!(status(&app, "GET", "/healthz").await, StatusCode::OK);
    }

    #[tokio::test]
    async fn healthz_is_503_while_the_last_run_could_not_run_and_ok_once_one_can() {
        let (app, health) = app(Duration::from_secs(60));
        health.record_outcome(crate::diag::Outcome::Problems);
        assert_eq!(status(&app, "GET", "/healthz").await, StatusCode::OK);
        health.record_outcome(crate::diag::Outcome::Fatal);
        assert_eq!(
            status(&app, "GET", "/healthz").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.record_outcome(crate::diag::Outcome::Ok);
        assert_eq!(status(&app, "GET", "/healthz").await, StatusCode::OK);
    }

    #[tokio::test]
    async fn other_paths_are_404_and_other_methods_405() {
        let (app, _) = app(Duration::from_secs(60));
        assert_eq!(status(&app, "GET", "/").await, StatusCode::NOT_FOUND);
        assert_eq!(
            status(&app, "POST", "/healthz").await,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            status(&app, "DELETE", "/metrics").await,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(status(&app, "GET", "/metrics").await, StatusCode::OK);
    }
}
