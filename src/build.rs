//! placeholder
use chrono::{DateTime, Utc};
use crate::{config::BlogConfig, diag::Diagnostic, model::Post, app::Outcome};
pub fn build(_c: &BlogConfig, _now: DateTime<Utc>, _force: bool) -> Outcome { Outcome::Fatal }
pub fn check_content(_c: &BlogConfig, _p: &[Post], _now: DateTime<Utc>) -> Vec<Diagnostic> { Vec::new() }
