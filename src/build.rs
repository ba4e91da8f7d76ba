//! placeholder
use crate::{app::Outcome, config::BlogConfig, diag::Diagnostic, model::Post};
use chrono::{DateTime, Utc};
pub fn build(_c: &BlogConfig, _now: DateTime<Utc>, _force: bool) -> Outcome {
    Outcome::Fatal
}
pub fn check_content(_c: &BlogConfig, _p: &[Post], _now: DateTime<Utc>) -> Vec<Diagnostic> {
    Vec::new()
}
