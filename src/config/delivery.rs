//! `[delivery]`: how hard notify tries before it gives a delivery up, and how
//! many requests it keeps in flight. Every setting is optional; notify owns
//! the defaults because they belong with the code that uses them.

use serde::Deserialize;

/// `[delivery]` as written. All optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [delivery] table (max_attempts = 10, …)"
)]
pub struct DeliverySettings {
    /// A delivery still failing this many hours after it was planned is dead.
    pub max_age_hours: Option<u32>,
    /// Attempts before a delivery is dead.
    pub max_attempts: Option<u32>,
    /// Webhook requests in flight, overall and per host.
    pub webhook_concurrency: Option<usize>,
    pub per_host_concurrency: Option<usize>,
    pub webhook_timeout_seconds: Option<u64>,
    /// How long a run waits for another run of the same blog to finish.
    pub lock_wait_seconds: Option<u64>,
}
