//! Payloads, stored once: a post's message is the same for every
//! subscriber, so the outbox keeps one `payloads` row per distinct message
//! (found again by its SHA-256) and each delivery refers to it by id. What
//! both backends share to write and read them: the hash, an announcement's
//! distinct payloads, and claimed rows joined to their payloads' bodies in
//! memory, each body read once per claim however many rows carry it.

use chrono::{DateTime, Utc};

use super::{Claimed, NewDelivery, StateError};

/// A delivery as a claim's `UPDATE … RETURNING` reads it: its payload by
/// id. The bodies are read afterwards, once per distinct payload
/// (`with_payloads`), rather than copied out with every row: a batch of a
/// large announcement shares one.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClaimedRef {
    id: i64,
    subscriber: String,
    channel: String,
    payload_id: i64,
    #[sqlx(try_from = "i64")]
    attempts: u32,
    created_at: DateTime<Utc>,
    hold_until: Option<DateTime<Utc>>,
}

/// The distinct payload ids of claimed rows, for the query that reads their
/// bodies.
pub(super) fn payload_ids(rows: &[ClaimedRef]) -> Vec<i64> {
    let ids: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.payload_id).collect();
    ids.into_iter().collect()
}

/// Claimed rows with their payloads' bodies (`bodies`: (id, body) pairs),
/// by id. A row whose payload is missing is `Invalid`: the schema's
/// guarantee was broken by hand.
pub(super) fn with_payloads(
    mut rows: Vec<ClaimedRef>,
    bodies: Vec<(i64, String)>,
    path: &std::path::Path,
) -> Result<Vec<Claimed>, StateError> {
    let bodies: std::collections::HashMap<i64, String> = bodies.into_iter().collect();
    // RETURNING gives no order guarantee.
    rows.sort_by_key(|row| row.id);
    rows.into_iter()
        .map(|row| {
            let payload =
                bodies
                    .get(&row.payload_id)
                    .cloned()
                    .ok_or_else(|| StateError::Invalid {
                        path: path.to_path_buf(),
                        message: format!(
                            "delivery #{} refers to payload #{}, which does not exist",
                            row.id, row.payload_id
                        ),
                    })?;
            Ok(Claimed {
                id: row.id,
                subscriber: row.subscriber,
                channel: row.channel,
                payload,
                attempts: row.attempts,
                created_at: row.created_at,
                hold_until: row.hold_until,
            })
        })
        .collect()
}

/// How `payloads` finds a body already stored: the SHA-256 of its UTF-8
/// bytes, hex (PostgreSQL's `encode(sha256(convert_to(body, 'UTF8')),
/// 'hex')` gives the same, which its migration relies on).
pub(super) fn payload_sha256(body: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(body.as_bytes()))
}

/// The distinct payloads of an announcement's deliveries (in practice one:
/// a post's message is the same for every subscriber), each with its hash.
pub(super) fn distinct_payloads(deliveries: &[NewDelivery]) -> Vec<(&str, String)> {
    let mut seen = std::collections::HashSet::new();
    deliveries
        .iter()
        .map(|d| d.payload.as_str())
        .filter(|body| seen.insert(*body))
        .map(|body| (body, payload_sha256(body)))
        .collect()
}
