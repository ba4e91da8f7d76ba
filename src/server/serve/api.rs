//! The webhook subscription API (to be written).

use axum::Router;

use super::Sites;

pub fn routes() -> Router<Sites> {
    Router::new()
}
